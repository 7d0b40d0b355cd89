//! The service dependency graph (compose `pkg/compose/dependencies.go` `NewGraph`): edges from
//! `depends_on`, which the model has already filled with the implicit dependencies of `links`,
//! `network_mode: service:x`, `volumes_from` and friends.

use std::collections::{BTreeMap, BTreeSet};

use super::PlanError;
use crate::model::types::{Project, ServiceDependency};

/// Services and the dependencies that are in the project, with their `depends_on` entry.
#[derive(Clone, Debug, Default)]
pub struct ServiceGraph {
    deps: BTreeMap<String, Vec<(String, ServiceDependency)>>,
}

impl ServiceGraph {
    /// Builds the graph as `NewGraph` does: a missing dependency that is not required is
    /// dropped; a required one is an error, naming the profiles that would enable it when it is
    /// disabled. `disabled` maps each service disabled by profiles to its profiles.
    pub fn new(
        project: &Project,
        disabled: &BTreeMap<String, Vec<String>>,
    ) -> Result<Self, PlanError> {
        let mut deps = BTreeMap::new();
        for (name, s) in &project.services {
            let mut list = Vec::new();
            for (dep, cfg) in &s.depends_on {
                if project.services.contains_key(dep) {
                    list.push((dep.clone(), cfg.clone()));
                } else if !cfg.required {
                    continue;
                } else if let Some(profiles) = disabled.get(dep) {
                    return Err(PlanError::DisabledDependency {
                        service: name.clone(),
                        dependency: dep.clone(),
                        profiles: profiles.clone(),
                    });
                } else {
                    return Err(PlanError::MissingDependency {
                        service: name.clone(),
                        dependency: dep.clone(),
                    });
                }
            }
            deps.insert(name.clone(), list);
        }
        let g = ServiceGraph { deps };
        g.check_cycles()?;
        Ok(g)
    }

    /// The model rejects cycles already; this keeps the planner safe on a hand-built project
    /// (compose `Graph.HasCycles`, same message).
    fn check_cycles(&self) -> Result<(), PlanError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Active,
            Done,
        }
        fn visit(
            g: &ServiceGraph,
            n: &str,
            marks: &mut BTreeMap<String, Mark>,
            path: &mut Vec<String>,
        ) -> Result<(), PlanError> {
            marks.insert(n.to_string(), Mark::Active);
            for (d, _) in g.dependencies(n) {
                path.push(d.clone());
                match marks.get(d) {
                    Some(Mark::Active) => return Err(PlanError::Cycle(path.join(" -> "))),
                    Some(Mark::Done) => {}
                    None => visit(g, d, marks, path)?,
                }
                path.pop();
            }
            marks.insert(n.to_string(), Mark::Done);
            Ok(())
        }
        let mut marks = BTreeMap::new();
        for n in self.deps.keys() {
            if !marks.contains_key(n) {
                let mut path = vec![n.clone()];
                visit(self, n, &mut marks, &mut path)?;
            }
        }
        Ok(())
    }

    pub fn contains(&self, service: &str) -> bool {
        self.deps.contains_key(service)
    }

    /// The dependencies of `service` that are in the project, in `depends_on` order.
    pub fn dependencies(&self, service: &str) -> &[(String, ServiceDependency)] {
        self.deps.get(service).map_or(&[], Vec::as_slice)
    }

    /// The services that depend on `service` directly, sorted.
    pub fn dependents(&self, service: &str) -> Vec<String> {
        self.deps
            .iter()
            .filter(|(_, d)| d.iter().any(|(n, _)| n == service))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// `names` and everything they depend on, transitively.
    pub fn with_dependencies(&self, names: &[String]) -> BTreeSet<String> {
        self.closure(names, |n| {
            self.dependencies(n)
                .iter()
                .map(|(d, _)| d.clone())
                .collect()
        })
    }

    /// `names` and everything that depends on them, transitively (compose
    /// `WithRootNodesAndDown`, which `down SERVICE` uses).
    pub fn with_dependents(&self, names: &[String]) -> BTreeSet<String> {
        self.closure(names, |n| self.dependents(n))
    }

    fn closure(&self, names: &[String], next: impl Fn(&str) -> Vec<String>) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        let mut todo: Vec<String> = names.to_vec();
        while let Some(n) = todo.pop() {
            if self.contains(&n) && set.insert(n.clone()) {
                todo.extend(next(&n));
            }
        }
        set
    }

    /// Every service, dependencies first; among services whose dependencies are all placed,
    /// the smallest name first, so the order is deterministic.
    pub fn order(&self) -> Vec<String> {
        let mut placed: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        while out.len() < self.deps.len() {
            let next = self.deps.iter().find(|(n, d)| {
                !placed.contains(n.as_str()) && d.iter().all(|(x, _)| placed.contains(x.as_str()))
            });
            // No cycle (checked in `new`), so some service is always ready.
            let Some((n, _)) = next else { break };
            placed.insert(n);
            out.push(n.clone());
        }
        out
    }
}
