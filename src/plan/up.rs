//! `up` / `create`: compose `create.go` `create` (images, networks, volumes, orphans), then
//! `convergence.go` `ensureService` for each service in dependency order, then `start.go`
//! `startService` (start what is not running, after the dependencies' conditions).

use std::collections::{BTreeMap, BTreeSet};

use super::graph::ServiceGraph;
use super::observed::{ContainerState, ImageFact, Observed, ObservedContainer};
use super::ops::{Condition, ContainerRef, Edge, Op, Plan};
use super::{check_services, named_or_all, Disabled, PlanError, UpOptions};
use crate::model::project::{image_name, service_hash};
use crate::model::types::{Project, ServiceConfig, ServiceDependency};

/// compose `api.RecreateDiverged` / `RecreateForce` / `RecreateNever`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recreate {
    Diverged,
    /// With the flag that forces it, for the reason text.
    Force(&'static str),
    Never,
}

/// The plan for `up` (or `create`, with `no_start`).
pub fn up(
    project: &Project,
    disabled: &Disabled,
    observed: &Observed,
    opts: &UpOptions,
) -> Result<Plan, PlanError> {
    check_services(project, &opts.services)?;
    check_services(project, opts.scale.keys())?;
    let graph = ServiceGraph::new(project, disabled)?;

    // compose: `create` fills options.Services with every service when none is named; the
    // named ones get `Recreate`, the rest `RecreateDependencies` (cmd/compose/create.go
    // `recreateStrategy` / `dependenciesRecreateStrategy`).
    let selected = named_or_all(project, &opts.services, |n| n.iter().cloned().collect());
    let touched: BTreeSet<String> = if opts.no_deps {
        selected.clone()
    } else {
        let names: Vec<String> = selected.iter().cloned().collect();
        graph.with_dependencies(&names)
    };
    let (named, deps) = if opts.no_recreate {
        (Recreate::Never, Recreate::Never)
    } else {
        (
            if opts.force_recreate {
                Recreate::Force("--force-recreate")
            } else {
                Recreate::Diverged
            },
            if opts.always_recreate_deps {
                Recreate::Force("--always-recreate-deps")
            } else {
                Recreate::Diverged
            },
        )
    };

    let mut b = Builder {
        project,
        observed,
        opts,
        plan: Plan::default(),
        networks: BTreeMap::new(),
        volumes: BTreeMap::new(),
        images: BTreeMap::new(),
        converged: BTreeMap::new(),
        running: BTreeMap::new(),
        forced_by: BTreeMap::new(),
    };
    b.orphans(disabled);
    let order: Vec<String> = graph
        .order()
        .into_iter()
        .filter(|s| touched.contains(s))
        .collect();
    for name in &order {
        let Some(s) = project.services.get(name) else {
            continue;
        };
        let strategy = if selected.contains(name) { named } else { deps };
        let deps: Vec<(String, ServiceDependency)> = graph
            .dependencies(name)
            .iter()
            .filter(|(d, _)| touched.contains(d))
            .cloned()
            .collect();
        let recreated = b.service(name, s, strategy, &deps)?;
        // compose `recreateContainer` → `setDependentLifecycle`: every service that depends on
        // one with a recreated container is force-recreated (unless --no-recreate).
        if recreated {
            for d in graph.dependents(name) {
                b.forced_by.entry(d).or_insert_with(|| name.clone());
            }
        }
    }
    Ok(b.plan)
}

struct Builder<'a> {
    project: &'a Project,
    observed: &'a Observed,
    opts: &'a UpOptions,
    plan: Plan,
    /// Network / volume key → its create node, when one is needed.
    networks: BTreeMap<String, Option<usize>>,
    volumes: BTreeMap<String, Option<usize>>,
    /// Image name → its pull or build node.
    images: BTreeMap<String, Option<usize>>,
    /// Service → the nodes that converge its containers (create, recreate, scale down).
    converged: BTreeMap<String, Vec<usize>>,
    /// Service → the nodes after which its containers run (start or keep): what dependents
    /// wait on.
    running: BTreeMap<String, Vec<usize>>,
    /// Service → the dependency whose recreation forces its recreation.
    forced_by: BTreeMap<String, String>,
}

impl Builder<'_> {
    /// compose `create`: containers of the project whose service is neither enabled nor
    /// disabled by profiles are orphans, one-offs included. They are removed with
    /// --remove-orphans, else compose warns.
    fn orphans(&mut self, disabled: &Disabled) {
        if self.opts.ignore_orphans {
            return;
        }
        let mut orphans: Vec<&ObservedContainer> = self
            .observed
            .of_project(&self.project.name)
            .filter(|c| {
                !self.project.services.contains_key(c.service())
                    && !disabled.contains_key(c.service())
            })
            .collect();
        if orphans.is_empty() {
            return;
        }
        orphans.sort_by(|a, b| a.name.cmp(&b.name));
        if self.opts.remove_orphans {
            for c in orphans {
                let reason = format!("service {:?} is not in the project", c.service());
                self.plan.push(
                    Op::RemoveOrphan {
                        target: container_ref(c),
                        timeout: self.opts.timeout,
                    },
                    reason,
                    vec![],
                );
            }
        } else {
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            self.plan.warnings.push(format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this \
                 service in your compose file, you can run this command with the \
                 --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
        }
    }

    /// The nodes a container of `s` must wait for before it is created: its networks, named
    /// volumes and image (compose creates them all before converging).
    fn resources(&mut self, name: &str, s: &ServiceConfig) -> Vec<Edge> {
        let mut after = Vec::new();
        for key in s.networks.keys() {
            if let Some(n) = self.network(key) {
                after.push(Edge::done(n));
            }
        }
        for v in &s.volumes {
            if v.r#type == "volume" && !v.source.is_empty() {
                if let Some(n) = self.volume(&v.source) {
                    after.push(Edge::done(n));
                }
            }
        }
        if let Some(n) = self.image(name, s) {
            after.push(Edge::done(n));
        }
        after
    }

    fn network(&mut self, key: &str) -> Option<usize> {
        if let Some(n) = self.networks.get(key) {
            return *n;
        }
        let node = self.project.networks.get(key).and_then(|cfg| {
            if cfg.external {
                return None;
            }
            let name = resource_name(&self.project.name, key, &cfg.name);
            if self.observed.networks.contains(&name) {
                return None;
            }
            Some(
                self.plan
                    .push(Op::CreateNetwork { name }, "not found", vec![]),
            )
        });
        self.networks.insert(key.to_string(), node);
        node
    }

    fn volume(&mut self, key: &str) -> Option<usize> {
        if let Some(n) = self.volumes.get(key) {
            return *n;
        }
        let node = self.project.volumes.get(key).and_then(|cfg| {
            if cfg.external {
                return None;
            }
            let name = resource_name(&self.project.name, key, &cfg.name);
            if self.observed.volumes.contains(&name) {
                return None;
            }
            Some(
                self.plan
                    .push(Op::CreateVolume { name }, "not found", vec![]),
            )
        });
        self.volumes.insert(key.to_string(), node);
        node
    }

    /// compose `ensureImagesExists`, simplified: a missing image is pulled (built when the
    /// service has `build:`), `pull_policy: always` pulls, `pull_policy: build` builds;
    /// `pull_policy: never` never pulls. One node per image, shared by the services that run it.
    fn image(&mut self, service: &str, s: &ServiceConfig) -> Option<usize> {
        let image = image_name(&self.project.name, service, s);
        if let Some(n) = self.images.get(&image) {
            return *n;
        }
        let missing = matches!(self.observed.images.get(service), Some(ImageFact::Missing));
        let build = |image: String| Op::BuildImage {
            service: service.to_string(),
            image,
        };
        let pull = |image: String| Op::PullImage {
            service: service.to_string(),
            image,
        };
        let step = match s.pull_policy.as_str() {
            "never" => None,
            "build" => Some((build(image.clone()), "pull_policy: build")),
            "always" => Some((pull(image.clone()), "pull_policy: always")),
            _ if missing && s.build.is_some() => Some((build(image.clone()), "image missing")),
            _ if missing => Some((pull(image.clone()), "image missing")),
            _ => None,
        };
        let node = step.map(|(op, reason)| self.plan.push(op, reason, vec![]));
        self.images.insert(image, node);
        node
    }

    /// compose `ensureService` then `startService` for one service. Returns whether a
    /// container was recreated.
    fn service(
        &mut self,
        name: &str,
        s: &ServiceConfig,
        strategy: Recreate,
        deps: &[(String, ServiceDependency)],
    ) -> Result<bool, PlanError> {
        let project = &self.project.name;
        // compose `getScale`: --scale (cmd `applyScaleOpts`), else `scale`, else
        // `deploy.replicas`; a container_name forbids more than one.
        let expected = self
            .opts
            .scale
            .get(name)
            .copied()
            .unwrap_or_else(|| s.get_scale())
            .max(0);
        if expected > 1 && !s.container_name.is_empty() {
            return Err(PlanError::ContainerNameScale {
                service: name.to_string(),
                container_name: s.container_name.clone(),
            });
        }
        let hash = service_hash(s);
        let mut containers: Vec<(&ObservedContainer, Option<String>)> = self
            .observed
            .of_project(project)
            .filter(|c| !c.is_oneoff() && c.service() == name)
            .map(|c| (c, self.must_recreate(name, &hash, c, strategy)))
            .collect();
        // compose sorts obsolete containers first, so scaling down removes them, then the rest
        // by number so the low numbers stay.
        containers.sort_by_key(|(c, why)| {
            (
                why.is_none(),
                c.number().unwrap_or(i64::MAX),
                c.name.clone(),
            )
        });

        let mut before: Vec<Edge> = self.resources(name, s);
        for (d, _) in deps {
            for &n in self.converged.get(d).into_iter().flatten() {
                before.push(Edge::done(n));
            }
        }
        // berth puts the namespace paths of `ipc:`/`pid:`/`network_mode: service:x` into the
        // spec when it makes the container (Docker resolves them at start), so x must run by
        // then
        for mode in [&s.ipc, &s.pid, &s.network_mode] {
            if let Some(d) = mode.strip_prefix("service:") {
                for &n in self.running.get(d).into_iter().flatten() {
                    before.push(Edge::done(n));
                }
            }
        }
        let waits = self.waits(deps);

        let mut converged = Vec::new();
        let mut running = Vec::new();
        let mut recreated = false;
        let actual = containers.len() as i64;
        for (i, (c, why)) in containers.iter().enumerate() {
            if i as i64 >= expected {
                let n = self.plan.push(
                    Op::ScaleDown {
                        target: container_ref(c),
                        timeout: self.opts.timeout,
                    },
                    format!("scale is {expected}"),
                    before.clone(),
                );
                converged.push(n);
                continue;
            }
            if let Some(why) = why {
                let number = c.number().unwrap_or(0);
                let cname = container_name(project, name, s, number);
                let n = self.plan.push(
                    Op::RecreateContainer {
                        service: name.to_string(),
                        number,
                        name: cname.clone(),
                        old: container_ref(c),
                        timeout: self.opts.timeout,
                    },
                    why.clone(),
                    before.clone(),
                );
                converged.push(n);
                recreated = true;
                running.push(self.start_or_keep(name, &cname, n, "recreated", &waits));
                continue;
            }
            // compose: a container that did not diverge is kept; `startService` then starts
            // it unless it is running.
            let keep = |b: &mut Self, reason: &str| {
                b.plan.push(
                    Op::Keep {
                        service: name.to_string(),
                        name: c.name.clone(),
                        id: c.id.clone(),
                    },
                    reason,
                    vec![],
                )
            };
            let node = match &c.state {
                ContainerState::Running => keep(self, "up to date"),
                ContainerState::Paused => keep(self, "up to date, paused"),
                ContainerState::Restarting => keep(self, "up to date, restarting"),
                _ if self.opts.no_start => keep(self, "up to date, not started"),
                state => {
                    let reason = match state {
                        ContainerState::Created => "created, not started".to_string(),
                        ContainerState::Exited { code } => format!("exited ({code})"),
                        other => format!("{other:?}").to_lowercase(),
                    };
                    self.plan.push(
                        Op::StartContainer {
                            service: name.to_string(),
                            name: c.name.clone(),
                            id: Some(c.id.clone()),
                        },
                        reason,
                        waits.clone(),
                    )
                }
            };
            running.push(node);
        }

        // compose `nextContainerNumber`: one more than the highest number there is.
        let next = containers
            .iter()
            .filter_map(|(c, _)| c.number())
            .max()
            .unwrap_or(0)
            + 1;
        for k in 0..(expected - actual).max(0) {
            let number = next + k;
            let cname = container_name(project, name, s, number);
            let reason = if actual == 0 {
                "no container".to_string()
            } else {
                format!("scale is {expected}")
            };
            let n = self.plan.push(
                Op::CreateContainer {
                    service: name.to_string(),
                    number,
                    name: cname.clone(),
                },
                reason,
                before.clone(),
            );
            converged.push(n);
            running.push(self.start_or_keep(name, &cname, n, "new container", &waits));
        }
        self.converged.insert(name.to_string(), converged);
        self.running.insert(name.to_string(), running);
        Ok(recreated)
    }

    /// The start node of a container created or recreated by `created` (or that node itself
    /// with --no-start).
    fn start_or_keep(
        &mut self,
        service: &str,
        name: &str,
        created: usize,
        reason: &str,
        waits: &[Edge],
    ) -> usize {
        if self.opts.no_start {
            return created;
        }
        let mut after = waits.to_vec();
        after.push(Edge::done(created));
        self.plan.push(
            Op::StartContainer {
                service: service.to_string(),
                name: name.to_string(),
                id: None,
            },
            reason,
            after,
        )
    }

    /// compose `waitDependencies`: a start waits for each dependency's containers, with the
    /// `depends_on` condition; a dependency scaled to 0 has none and is not waited for
    /// (`shouldWaitForDependency`).
    fn waits(&self, deps: &[(String, ServiceDependency)]) -> Vec<Edge> {
        let mut out = Vec::new();
        for (d, cfg) in deps {
            let condition = match cfg.condition.as_str() {
                "service_healthy" => Condition::Healthy,
                "service_completed_successfully" => Condition::CompletedSuccessfully,
                _ => Condition::Started,
            };
            for &n in self.running.get(d).into_iter().flatten() {
                out.push(Edge {
                    node: n,
                    condition,
                    required: cfg.required,
                    restart: cfg.restart,
                });
            }
        }
        out
    }

    /// compose `mustRecreate`, with the reason: never with --no-recreate; always when forced
    /// or when a dependency was recreated (`x-lifecycle: force_recreate`); else when the
    /// config hash or the image digest differs. The digest is compared only when the
    /// service's image is known to be present.
    fn must_recreate(
        &self,
        service: &str,
        hash: &str,
        c: &ObservedContainer,
        strategy: Recreate,
    ) -> Option<String> {
        match strategy {
            Recreate::Never => return None,
            Recreate::Force(flag) => return Some(flag.into()),
            Recreate::Diverged => {}
        }
        if let Some(dep) = self.forced_by.get(service) {
            return Some(format!("dependency {dep} was recreated"));
        }
        if c.label(super::labels::CONFIG_HASH) != Some(hash) {
            return Some("config hash changed".into());
        }
        if let Some(ImageFact::Present { digest }) = self.observed.images.get(service) {
            if c.digest() != Some(digest.as_str()) {
                return Some("image changed".into());
            }
        }
        None
    }
}

pub(crate) fn container_ref(c: &ObservedContainer) -> ContainerRef {
    ContainerRef {
        id: c.id.clone(),
        name: c.name.clone(),
        service: c.service().to_string(),
    }
}

/// compose `getContainerName`: `container_name`, else `<project>-<service>-<n>`.
pub(crate) fn container_name(project: &str, service: &str, s: &ServiceConfig, n: i64) -> String {
    if s.container_name.is_empty() {
        format!("{project}-{service}-{n}")
    } else {
        s.container_name.clone()
    }
}

/// A network's or volume's name: its `name:`, else `<project>_<key>` (compose-go's default).
pub(crate) fn resource_name(project: &str, key: &str, name: &str) -> String {
    if name.is_empty() {
        format!("{project}_{key}")
    } else {
        name.to_string()
    }
}

/// The compose labels a container of `service` is created with (compose `create.go`
/// `prepareLabels` and `getCreateConfigs`), so the next `up` can tell whether it diverged.
/// `image_digest` is what `Observed::images` reports for the service. The caller adds the
/// project's working dir, config files and version. `depends_on` entries are
/// `service:condition:restart`, comma-joined, in `depends_on` order (compose's order is a Go
/// map's).
pub fn container_labels(
    project: &Project,
    service: &str,
    number: i64,
    image_digest: Option<&str>,
) -> BTreeMap<String, String> {
    use super::labels;
    let mut out = BTreeMap::new();
    let Some(s) = project.services.get(service) else {
        return out;
    };
    let mut put = |k: &str, v: String| {
        out.insert(k.to_string(), v);
    };
    put(labels::PROJECT, project.name.clone());
    put(labels::SERVICE, service.to_string());
    put(labels::CONTAINER_NUMBER, number.to_string());
    put(labels::ONEOFF, "False".into());
    put(labels::CONFIG_HASH, service_hash(s));
    let deps: Vec<String> = s
        .depends_on
        .iter()
        .map(|(d, c)| format!("{d}:{}:{}", c.condition, c.restart))
        .collect();
    put(labels::DEPENDS_ON, deps.join(","));
    if let Some(d) = image_digest {
        put(labels::IMAGE_DIGEST, d.to_string());
    }
    out
}
