//! What `up`, `down` and `ps` share: observing a project's containers in containerd (labels and
//! task state), and executing the operations of a [`Plan`] one node at a time. The executor makes
//! no decisions; every choice of what to create, start, stop or remove is the planner's.
//!
//! A container's containerd id is its compose name (`<project>-<service>-<n>`), as `images`
//! already assumes: containerd has no separate name field, and the name is unique per namespace.
//! Its snapshot key is the same id, and its own files live in
//! `<lib>/containers/<namespace>/<id>/` (json-file logs, hosts, hostname, resolv.conf).
//!
//! Sequential for now: nodes run one after the other in `Plan::order()`, which respects every
//! edge; `depends_on` conditions beyond "started" (healthy, completed successfully) are not
//! waited for yet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::AppError;
use crate::containerd::{Client, Code, Mount, NewContainer, Stdio, TaskStatus};
use crate::image::local::{self, LocalImage};
use crate::image::reference::ImageRef;
use crate::image::registry::{Platform, Puller};
use crate::image::store::SNAPSHOTTER;
use crate::logs::{DriverConfig, Rotation};
use crate::model::project::image_name;
use crate::model::types::{Project, ServiceConfig};
use crate::plan::{
    labels, restart, ContainerState, ImageFact, Observed, ObservedContainer, Op, Plan,
};
use crate::progress::{container_id, Event, Progress};
use crate::spec::{self, CgroupVersion, Facts};

/// berth's own label: when the container's current task was started (RFC 3339), for `ps`'s
/// `Up 3 seconds` (containerd records no start time for a task).
pub const STARTED_AT_LABEL: &str = "berth.started-at";

/// SIGKILL, after the grace period.
const SIGKILL: u32 = 9;

/// How long the lease that guards a new container's snapshot may live if berth dies before it
/// deletes it.
const CREATE_LEASE_TTL: Duration = Duration::from_secs(600);

/// Where a plan runs: the connection, the project, berth's state directory, the reporter.
pub struct Executor<'a> {
    pub client: &'a Client,
    pub project: &'a Project,
    pub puller: Option<&'a Puller>,
    pub lib: PathBuf,
    pub progress: &'a Progress,
    /// `com.docker.compose.project.working_dir` and `.config_files`.
    pub working_dir: String,
    pub config_files: String,
    /// Warnings found on the way (spec keys berth does not apply), for the CLI to print.
    pub warnings: Vec<String>,
    /// Images resolved so far, by service.
    images: BTreeMap<String, LocalImage>,
    /// What containerd's restart monitor can do, asked once when first needed.
    restart_support: Option<restart::MonitorSupport>,
}

/// The record name containerd keeps an image under, as a service names it.
pub fn image_record_name(image: &str) -> String {
    ImageRef::parse(image)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| image.to_owned())
}

/// The containers of `project` in the client's namespace, with their state; sorted by name.
pub async fn observe_containers(
    client: &Client,
    project: &str,
) -> Result<
    Vec<(
        crate::containerd::Container,
        ObservedContainer,
        Option<TaskInfoLite>,
    )>,
    AppError,
> {
    let list = client
        .container_list(&[format!("labels.\"{}\"=={project}", labels::PROJECT)])
        .await?;
    let mut out = Vec::new();
    for c in list {
        let task = client.task_get(&c.id).await?;
        let state = match &task {
            None => ContainerState::Created,
            Some(t) => match t.status {
                TaskStatus::Created => ContainerState::Created,
                TaskStatus::Running => ContainerState::Running,
                TaskStatus::Paused | TaskStatus::Pausing => ContainerState::Paused,
                TaskStatus::Stopped => ContainerState::Exited {
                    code: i64::from(t.exit_status),
                },
                TaskStatus::Unknown => ContainerState::Other("unknown".into()),
            },
        };
        let observed = ObservedContainer {
            id: c.id.clone(),
            name: c.id.clone(),
            labels: c.labels.clone(),
            state,
            image_digest: None,
        };
        let lite = task.map(|t| TaskInfoLite {
            exit_code: t.exit_status,
            exited_at: t.exited_at,
        });
        out.push((c, observed, lite));
    }
    out.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    Ok(out)
}

/// What `ps` needs of a task beyond the state.
#[derive(Clone, Debug)]
pub struct TaskInfoLite {
    pub exit_code: u32,
    pub exited_at: Option<SystemTime>,
}

/// Everything the planner needs: the containers, and the image each service resolves to now
/// (its config digest, the image ID compose records in `com.docker.compose.image`).
pub async fn observe(client: &Client, project: &Project) -> Result<Observed, AppError> {
    let containers = observe_containers(client, &project.name)
        .await?
        .into_iter()
        .map(|(_, o, _)| o)
        .collect();
    let mut images = BTreeMap::new();
    let platform = Platform::host();
    for (name, s) in &project.services {
        let record = image_record_name(&image_name(&project.name, name, s));
        let fact = match local::inspect(client, &record, &platform).await {
            Ok(Some(i)) => ImageFact::Present {
                digest: i.config_digest,
            },
            Ok(None) => ImageFact::Missing,
            Err(e) => return Err(AppError::Other(format!("image {record}: {e}"))),
        };
        images.insert(name.clone(), fact);
    }
    let volumes = crate::state::volumes::list(&crate::state::lib_dir())
        .map(|v| v.into_iter().map(|v| v.name).collect())
        .unwrap_or_default();
    Ok(Observed {
        containers,
        images,
        networks: Default::default(),
        volumes,
    })
}

/// The services whose networking this slice cannot give yet: anything but `network_mode:
/// none` or `host`. Checked before anything is changed.
pub fn check_network_modes(project: &Project, services: &[String]) -> Result<(), AppError> {
    for (name, s) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let mode = if s.network_mode.is_empty() {
            "bridge (the default network)"
        } else {
            s.network_mode.as_str()
        };
        if !matches!(s.network_mode.as_str(), "none" | "host") {
            return Err(AppError::Other(format!(
                "service {name:?}: network_mode {mode} is not implemented yet; berth runs only services with network_mode: none or host"
            )));
        }
        if !s.volumes.is_empty() {
            return Err(AppError::Other(format!(
                "service {name:?}: volumes are not mounted yet; berth cannot run this service"
            )));
        }
    }
    Ok(())
}

impl<'a> Executor<'a> {
    pub fn new(
        client: &'a Client,
        project: &'a Project,
        progress: &'a Progress,
        lib: PathBuf,
    ) -> Self {
        Executor {
            client,
            project,
            puller: None,
            lib,
            progress,
            working_dir: String::new(),
            config_files: String::new(),
            warnings: Vec::new(),
            images: BTreeMap::new(),
            restart_support: None,
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        crate::state::container_dir(&self.lib, self.client.namespace(), id)
    }

    /// Runs every node in order; stops at the first failure (`up`).
    pub async fn run_all(&mut self, plan: &Plan) -> Result<(), AppError> {
        for i in plan.order() {
            self.run(&plan.nodes[i].op).await?;
        }
        Ok(())
    }

    /// Runs every node in order, going on after failures and returning them all (`down`: STYLE,
    /// teardown collects every error). A node whose predecessor failed still runs: removing a
    /// container whose stop failed is what the user wants, and it fails on its own if it must.
    pub async fn run_collecting(&mut self, plan: &Plan) -> Vec<String> {
        let mut errors = Vec::new();
        for i in plan.order() {
            if let Err(e) = self.run(&plan.nodes[i].op).await {
                errors.push(e.to_string());
            }
        }
        errors
    }

    /// One operation.
    pub async fn run(&mut self, op: &Op) -> Result<(), AppError> {
        match op {
            Op::CreateNetwork { name } | Op::RemoveNetwork { name } => {
                // Only network_mode none/host services run in this slice (checked up front);
                // project networks are not made or removed yet.
                self.warnings.push(format!(
                    "network {name}: networks are not implemented yet; skipped"
                ));
                Ok(())
            }
            Op::CreateVolume { name } => {
                let wanted = crate::state::volumes::Volume {
                    name: name.clone(),
                    driver: "local".into(),
                    labels: BTreeMap::from([(
                        labels::PROJECT.to_owned(),
                        self.project.name.clone(),
                    )]),
                    options: BTreeMap::new(),
                    created_at: String::new(),
                };
                crate::state::volumes::create(&self.lib, &wanted)
                    .map_err(|e| AppError::Other(e.to_string()))?;
                Ok(())
            }
            Op::RemoveVolume { name } => {
                let id = crate::progress::volume_remove_id(name);
                self.progress.send(Event::removing(&id));
                crate::state::volumes::remove(&self.lib, name)
                    .map_err(|e| AppError::Other(e.to_string()))?;
                self.progress.send(Event::removed(&id));
                Ok(())
            }
            Op::PullImage { service, image } => {
                let Some(puller) = self.puller else {
                    return Err(AppError::Other(format!("no puller to pull {image}")));
                };
                let platform = self
                    .project
                    .services
                    .get(service)
                    .map(|s| s.platform.clone())
                    .filter(|p| !p.is_empty());
                let pulled = super::pull::pull_service(
                    self.client,
                    puller,
                    service,
                    image,
                    platform.as_deref(),
                    self.progress,
                    true,
                )
                .await
                .map_err(|e| {
                    AppError::Pull(format!("service {service:?}: pulling {image}: {e}"))
                })?;
                self.warnings.extend(pulled.warnings);
                Ok(())
            }
            Op::BuildImage { service, image } => Err(AppError::Other(format!(
                "service {service:?}: building {image} is not implemented yet"
            ))),
            Op::RemoveImage { image } => Err(AppError::Other(format!(
                "removing image {image} (--rmi) is not implemented yet"
            ))),
            Op::CreateContainer {
                service,
                number,
                name,
            } => {
                let id = container_id(name);
                self.progress.send(Event::creating(&id));
                match self.create(service, *number, name).await {
                    Ok(()) => {
                        self.progress.send(Event::created(&id));
                        Ok(())
                    }
                    Err(e) => {
                        self.progress.send(Event::error_message(&id, e.to_string()));
                        Err(e)
                    }
                }
            }
            Op::RecreateContainer {
                service,
                number,
                name,
                old,
                timeout,
            } => {
                // containerd cannot rename a container, and the id is the name: the old one is
                // stopped and removed before the new one is made (compose makes the new one
                // first, under a temporary name, so a failed create leaves the old running).
                let id = container_id(name);
                self.progress.send(Event::recreate(&id));
                let r = async {
                    self.stop(&old.id, Some(&old.service), *timeout).await?;
                    self.remove(&old.id).await?;
                    self.create(service, *number, name).await
                }
                .await;
                match r {
                    Ok(()) => {
                        self.progress.send(Event::recreated(&id));
                        Ok(())
                    }
                    Err(e) => {
                        self.progress.send(Event::error_message(&id, e.to_string()));
                        Err(e)
                    }
                }
            }
            Op::StartContainer { name, id, .. } => {
                let cid = id.clone().unwrap_or_else(|| name.clone());
                let pid = container_id(name);
                self.progress.send(Event::starting(&pid));
                match self.start(&cid).await {
                    Ok(()) => {
                        self.progress.send(Event::started(&pid));
                        Ok(())
                    }
                    Err(e) => {
                        self.progress
                            .send(Event::error_message(&pid, e.to_string()));
                        Err(e)
                    }
                }
            }
            Op::StopContainer { target, timeout } => {
                let pid = container_id(&target.name);
                self.progress.send(Event::stopping(&pid));
                self.stop(&target.id, Some(&target.service), *timeout)
                    .await
                    .inspect_err(|e| {
                        self.progress
                            .send(Event::error_message(&pid, e.to_string()))
                    })?;
                self.progress.send(Event::stopped(&pid));
                Ok(())
            }
            Op::RemoveContainer { target, .. } => {
                let pid = container_id(&target.name);
                self.progress.send(Event::removing(&pid));
                self.remove(&target.id).await.inspect_err(|e| {
                    self.progress
                        .send(Event::error_message(&pid, e.to_string()))
                })?;
                self.progress.send(Event::removed(&pid));
                Ok(())
            }
            Op::ScaleDown { target, timeout } | Op::RemoveOrphan { target, timeout } => {
                let pid = container_id(&target.name);
                self.progress.send(Event::stopping(&pid));
                let service = self
                    .project
                    .services
                    .contains_key(&target.service)
                    .then_some(target.service.as_str());
                let r = async {
                    self.stop(&target.id, service, *timeout).await?;
                    self.progress.send(Event::stopped(&pid));
                    self.progress.send(Event::removing(&pid));
                    self.remove(&target.id).await
                }
                .await;
                match r {
                    Ok(()) => {
                        self.progress.send(Event::removed(&pid));
                        Ok(())
                    }
                    Err(e) => {
                        self.progress
                            .send(Event::error_message(&pid, e.to_string()));
                        Err(e)
                    }
                }
            }
            Op::Keep { name, id, .. } => {
                let running = matches!(
                    self.client.task_get(id).await?.map(|t| t.status),
                    Some(TaskStatus::Running)
                );
                if running {
                    self.progress.send(Event::running(container_id(name)));
                }
                Ok(())
            }
        }
    }

    async fn image(&mut self, service: &str, s: &ServiceConfig) -> Result<LocalImage, AppError> {
        if let Some(i) = self.images.get(service) {
            return Ok(i.clone());
        }
        let record = image_record_name(&image_name(&self.project.name, service, s));
        let image = local::inspect(self.client, &record, &Platform::host())
            .await
            .map_err(|e| AppError::Other(format!("image {record}: {e}")))?
            .ok_or_else(|| {
                AppError::Other(format!(
                    "service {service:?}: image {record} is not in containerd"
                ))
            })?;
        self.images.insert(service.to_owned(), image.clone());
        Ok(image)
    }

    /// Creates container `name`: a snapshot on the image's top layer, the container's own
    /// files, the spec, and the record with compose's labels.
    async fn create(&mut self, service: &str, number: i64, name: &str) -> Result<(), AppError> {
        let project = self.project;
        let s = project
            .services
            .get(service)
            .ok_or_else(|| AppError::Other(format!("no such service: {service}")))?;
        restart::policy(service, s).map_err(AppError::Other)?;
        let image = self.image(service, s).await?;
        let top = image
            .chain_ids
            .last()
            .cloned()
            .ok_or_else(|| AppError::Other(format!("image {} has no layers", image.name)))?;
        let dir = self.dir(name);
        let client = self.client;

        // The snapshot is prepared under a lease so the collector cannot take it before the
        // record refers to it.
        let lease = format!("berth-create-{name}-{}", std::process::id());
        client
            .lease_create(&lease, CREATE_LEASE_TTL, BTreeMap::new())
            .await?;
        let result = async {
            let leased = client.with_lease(&lease)?;
            let mounts = match leased
                .snapshot_prepare(SNAPSHOTTER, name, &top, BTreeMap::new())
                .await
            {
                Ok(m) => m,
                // left by a create that died half-way: start from a clean one
                Err(e) if e.code() == Some(Code::AlreadyExists) => {
                    client.snapshot_remove(SNAPSHOTTER, name).await?;
                    leased
                        .snapshot_prepare(SNAPSHOTTER, name, &top, BTreeMap::new())
                        .await?
                }
                Err(e) => return Err(AppError::from(e)),
            };
            let host_net = s.network_mode == "host";
            let files = ContainerFiles::write(&dir, name, host_net)?;
            let facts = Facts {
                hostname: files.hostname.clone(),
                passwd: read_image_file(&mounts, "etc/passwd"),
                group: read_image_file(&mounts, "etc/group"),
                hosts_file: Some(files.hosts.clone()),
                hostname_file: Some(files.hostname_file.clone()),
                resolv_conf_file: Some(files.resolv_conf.clone()),
                cgroup_version: cgroup_version(),
                // cgroupfs layout, as containerd's own client and nerdctl use it
                cgroups_path: Some(format!("/{}/{name}", client.namespace())),
                ..Facts::default()
            };
            let built = spec::build(s, &image.config, &facts)
                .map_err(|e| AppError::Other(e.to_string()))?;
            for w in &built.warnings {
                let w = w.to_string();
                if !self.warnings.contains(&w) {
                    self.warnings.push(w);
                }
            }
            let spec_json =
                serde_json::to_vec(&built.spec).map_err(|e| AppError::Other(e.to_string()))?;
            let mut labels =
                crate::plan::container_labels(project, service, number, Some(&image.config_digest));
            labels.insert(labels::WORKING_DIR.into(), self.working_dir.clone());
            labels.insert(labels::CONFIG_FILES.into(), self.config_files.clone());
            labels.insert(labels::VERSION.into(), env!("CARGO_PKG_VERSION").into());
            for (k, v) in s.labels.iter() {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            leased
                .container_create(NewContainer {
                    id: name.to_owned(),
                    labels,
                    image: image.name.clone(),
                    spec_json,
                    snapshotter: SNAPSHOTTER.into(),
                    snapshot_key: name.to_owned(),
                })
                .await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = client.snapshot_remove(SNAPSHOTTER, name).await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        let deleted = client.lease_delete(&lease).await;
        result?;
        deleted?;
        Ok(())
    }

    /// Starts container `id`'s task (a stopped task of an earlier run is deleted first), its
    /// output going to berth's json-file log driver.
    async fn start(&mut self, id: &str) -> Result<(), AppError> {
        let client = self.client;
        if client.task_get(id).await?.is_some() {
            client.task_delete(id).await?;
        }
        let mounts = client.snapshot_mounts(SNAPSHOTTER, id).await?;
        let dir = self.dir(id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| AppError::Other(format!("create {}: {e}", dir.display())))?;
        let exe = std::env::current_exe()
            .map_err(|e| AppError::Other(format!("find berth's own binary: {e}")))?;
        let service = client
            .container_get(id)
            .await?
            .and_then(|c| c.labels.get(labels::SERVICE).cloned());
        let uri = DriverConfig {
            dir: Some(dir),
            rotation: self.rotation(service.as_deref()),
        }
        .uri(&exe);
        match client.task_create(id, &mounts, &Stdio::log_uri(&uri)).await {
            Ok(_) => {
                if let Err(e) = client.task_start(id).await {
                    let _ = client.task_delete(id).await;
                    return Err(e.into());
                }
            }
            // containerd's restart monitor got there first (the container still carried its
            // labels): its task logs through the same URI, so that is a start.
            Err(e) if e.code() == Some(Code::AlreadyExists) => {}
            Err(e) => return Err(e.into()),
        }
        let mut update = self.restart_labels(service.as_deref(), &uri).await?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        update.insert(STARTED_AT_LABEL.to_owned(), Some(now));
        client.container_update_labels(id, &update).await?;
        Ok(())
    }

    /// The restart-monitor labels for a container of `service` whose task logs to `uri` (all
    /// removed for `restart: no`); a policy the running containerd cannot honour is warned
    /// about once.
    async fn restart_labels(
        &mut self,
        service: Option<&str>,
        uri: &str,
    ) -> Result<BTreeMap<String, Option<String>>, AppError> {
        let Some((name, s)) = service.and_then(|n| self.project.services.get_key_value(n)) else {
            return Ok(restart::cleared());
        };
        let policy = restart::policy(name, s).map_err(AppError::Other)?;
        if policy == restart::Policy::No {
            return Ok(restart::cleared());
        }
        let support = match self.restart_support {
            Some(s) => s,
            None => {
                let f = self.client.features().await?;
                let s = restart::MonitorSupport {
                    monitor: f.restart_monitor,
                    policies: f.restart_policies,
                };
                self.restart_support = Some(s);
                s
            }
        };
        let (labels, warning) = restart::start_labels(name, policy, support, uri);
        if let Some(w) = warning {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        Ok(labels)
    }

    /// Takes container `id` out of the restart monitor's hands, before berth stops or removes
    /// it: otherwise the monitor would start it again (or kill it mid-grace-period).
    async fn unmonitor(&self, id: &str) -> Result<(), AppError> {
        let Some(c) = self.client.container_get(id).await? else {
            return Ok(());
        };
        if c.labels.keys().any(|k| restart::ALL.contains(&k.as_str())) {
            self.client
                .container_update_labels(id, &restart::cleared())
                .await?;
        }
        Ok(())
    }

    /// The json-file rotation from the service's `logging.options`.
    fn rotation(&mut self, service: Option<&str>) -> Rotation {
        let logging = service
            .and_then(|s| self.project.services.get(s))
            .and_then(|s| s.logging.clone());
        let Some(logging) = logging else {
            return Rotation::default();
        };
        if !logging.driver.is_empty() && logging.driver != "json-file" {
            self.warnings.push(format!(
                "logging driver {:?} is not supported; berth writes json-file logs",
                logging.driver
            ));
        }
        let opts: Vec<(String, String)> = logging
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match Rotation::from_options(opts.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ok((r, _ignored)) => r,
            Err(e) => {
                self.warnings.push(format!("logging options: {e}"));
                Rotation::default()
            }
        }
    }

    /// Stops container `id`'s task: the stop signal, the grace period, then SIGKILL; then
    /// deletes the task. A container with no running task has nothing to stop.
    async fn stop(
        &mut self,
        id: &str,
        service: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<(), AppError> {
        let client = self.client;
        self.unmonitor(id).await?;
        let Some(task) = client.task_get(id).await? else {
            return Ok(());
        };
        if task.status != TaskStatus::Stopped {
            let cfg = service.and_then(|s| self.project.services.get(s));
            let image_cfg = match (service, cfg) {
                (Some(name), Some(s)) => self.image(name, s).await.ok(),
                _ => None,
            };
            let settings = match cfg {
                Some(s) => spec::stop_settings(
                    s,
                    image_cfg.as_ref().and_then(|i| i.config.config().as_ref()),
                )
                .map_err(|e| AppError::Other(e.to_string()))?,
                None => spec::StopSettings {
                    signal_name: "SIGTERM".into(),
                    signal: 15,
                    grace: spec::DEFAULT_STOP_GRACE,
                },
            };
            let grace = timeout.unwrap_or(settings.grace);
            if task.status == TaskStatus::Paused {
                let _ = client.task_resume(id).await;
            }
            match client.task_kill(id, settings.signal, false).await {
                Ok(()) => {}
                Err(e) if e.code() == Some(Code::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            if tokio::time::timeout(grace, client.task_wait(id))
                .await
                .is_err()
            {
                client.task_kill(id, SIGKILL, true).await?;
                client.task_wait(id).await?;
            }
        }
        client.task_delete(id).await?;
        Ok(())
    }

    /// Removes container `id`: its task (killed if it still runs), the record, the snapshot and
    /// its own files.
    async fn remove(&mut self, id: &str) -> Result<(), AppError> {
        let client = self.client;
        self.unmonitor(id).await?;
        if let Some(t) = client.task_get(id).await? {
            if t.status != TaskStatus::Stopped {
                client.task_kill(id, SIGKILL, true).await?;
                client.task_wait(id).await?;
            }
            client.task_delete(id).await?;
        }
        client.container_delete(id).await?;
        client.snapshot_remove(SNAPSHOTTER, id).await?;
        let dir = self.dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AppError::Other(format!("remove {}: {e}", dir.display()))),
        }
    }
}

/// The host's cgroup hierarchy: v2 when /sys/fs/cgroup is the unified one.
fn cgroup_version() -> CgroupVersion {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        CgroupVersion::V2
    } else {
        CgroupVersion::V1
    }
}

/// The per-container /etc files bound into the container.
struct ContainerFiles {
    hostname: String,
    hostname_file: PathBuf,
    hosts: PathBuf,
    resolv_conf: PathBuf,
}

/// Docker's /etc/hosts for a container with no network of its own (moby `etchosts.Build`).
pub const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

impl ContainerFiles {
    /// Writes hostname, hosts and resolv.conf into `dir`. With the host's network the
    /// container sees the host's name, hosts and resolvers (as Docker does); otherwise its own
    /// name, localhost only, and the host's resolvers without loopback ones (which would point
    /// into the container itself).
    fn write(dir: &Path, name: &str, host_net: bool) -> Result<ContainerFiles, AppError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::Other(format!("create {}: {e}", dir.display())))?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let (hostname, hosts, resolv) = if host_net {
            let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| name.to_owned());
            let hosts =
                std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| DEFAULT_HOSTS.into());
            (h, hosts, host_resolv)
        } else {
            (
                name.to_owned(),
                DEFAULT_HOSTS.to_owned(),
                resolv_without_loopback(&host_resolv),
            )
        };
        let files = ContainerFiles {
            hostname: hostname.clone(),
            hostname_file: dir.join("hostname"),
            hosts: dir.join("hosts"),
            resolv_conf: dir.join("resolv.conf"),
        };
        let write = |p: &Path, text: &str| {
            crate::state::write_atomic(p, text.as_bytes(), 0o644)
                .map_err(|e| AppError::Other(e.to_string()))
        };
        write(&files.hostname_file, &format!("{hostname}\n"))?;
        write(&files.hosts, &hosts)?;
        write(&files.resolv_conf, &resolv)?;
        Ok(files)
    }
}

/// The host's resolv.conf without loopback nameservers; Google's public resolvers when none is
/// left (moby `resolvconf.FilterResolvDNS`, `defaultIPv4Dns`).
pub fn resolv_without_loopback(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let addr = words.next().unwrap_or("");
            if addr.starts_with("127.") || addr == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// Reads `rel` (e.g. `etc/passwd`) from an unmounted snapshot by looking through its overlay
/// layers top-down (upperdir, then the lowerdirs), so no mount is needed. A whiteout (a
/// character device) hides the file; a symlink is not followed (treated as absent).
fn read_image_file(mounts: &[Mount], rel: &str) -> Option<String> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for m in mounts {
        if m.kind == "bind" {
            dirs.push(PathBuf::from(&m.source));
            continue;
        }
        if let Some(u) = m.options.iter().find_map(|o| o.strip_prefix("upperdir=")) {
            dirs.push(PathBuf::from(u));
        }
        if let Some(l) = m.options.iter().find_map(|o| o.strip_prefix("lowerdir=")) {
            dirs.extend(l.split(':').map(PathBuf::from));
        }
    }
    for d in dirs {
        let p = d.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_file() {
            return std::fs::read_to_string(&p).ok();
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_are_dropped() {
        assert_eq!(
            resolv_without_loopback("search x\nnameserver 127.0.0.53\nnameserver 10.0.0.1\n"),
            "search x\nnameserver 10.0.0.1\n"
        );
        assert_eq!(
            resolv_without_loopback("nameserver 127.0.0.53\n"),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn image_files_come_from_the_top_layer_down() {
        let root = std::env::temp_dir().join(format!("berth-lc-{}", std::process::id()));
        let (upper, top, bottom) = (root.join("u"), root.join("t"), root.join("b"));
        for d in [&upper, &top, &bottom] {
            std::fs::create_dir_all(d.join("etc")).unwrap();
        }
        std::fs::write(bottom.join("etc/passwd"), "old").unwrap();
        std::fs::write(top.join("etc/passwd"), "new").unwrap();
        let m = Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            target: String::new(),
            options: vec![
                format!("upperdir={}", upper.display()),
                format!("lowerdir={}:{}", top.display(), bottom.display()),
            ],
        };
        assert_eq!(
            read_image_file(std::slice::from_ref(&m), "etc/passwd").as_deref(),
            Some("new")
        );
        assert_eq!(read_image_file(&[m], "etc/group"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
