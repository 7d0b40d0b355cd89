//! What `up`, `down` and `ps` share: observing a project's containers in containerd (labels and
//! task state), and executing the operations of a [`Plan`] one node at a time. The executor makes
//! no decisions; every choice of what to create, start, stop or remove is the planner's.
//!
//! A container's containerd id is its compose name (`<project>-<service>-<n>`), as `images`
//! already assumes: containerd has no separate name field, and the name is unique per namespace.
//! Its snapshot key is the same id, and its own files live in
//! `<lib>/containers/<namespace>/<id>/` (json-file logs, hosts, hostname, resolv.conf).
//!
//! Nodes run in parallel as the plan's edges allow ([`crate::plan::Scheduler`]), at most
//! [`parallel_limit`] at a time; a start whose edges carry a `depends_on` condition first waits
//! for it (`super::wait`). Operations take `&self`: what they find on the way (warnings, resolved
//! images) goes behind a mutex.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
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
    labels, restart_policy as restart, ContainerState, ImageFact, Observed, ObservedContainer, Op,
    Plan,
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
    /// Warnings of the operations running now; moved into `warnings` when a run ends.
    found: Mutex<Vec<String>>,
    /// Images resolved so far, by record name (services sharing an image share the entry).
    images: Mutex<BTreeMap<String, LocalImage>>,
    /// Set when a node of an `up` plan failed: running `depends_on` waits give up.
    failed: AtomicBool,
    /// The anonymous volumes (by target) of the container a recreate replaces, for the next
    /// create to re-attach (as compose does), by container name.
    inherit_anonymous: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    /// What containerd's restart monitor can do, asked once when first needed.
    restart_support: tokio::sync::OnceCell<restart::MonitorSupport>,
    /// The ports a one-off publishes (`run -p`, `--service-ports`) instead of its service's.
    pub run_publish: Option<Vec<crate::plan::ports::Publish>>,
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
    // Tasks.List has no filter containerd applies, so it is asked for the namespace at the
    // same time as the project's containers are, instead of after them
    let filter = [format!("labels.\"{}\"=={project}", labels::PROJECT)];
    let (list, tasks) = tokio::try_join!(client.container_list(&filter), client.task_list(""))?;
    let mut tasks: BTreeMap<String, crate::containerd::TaskInfo> = tasks
        .into_iter()
        .map(|t| (t.container_id.clone(), t))
        .collect();
    let mut out = Vec::new();
    for c in list {
        let task = tasks.remove(&c.id);
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
    Ok(observe_with_images(client, project).await?.0)
}

/// [`observe`], and the images it resolved, by record name, for [`Executor::remember_images`]
/// (so a create does not read them from containerd again).
pub async fn observe_with_images(
    client: &Client,
    project: &Project,
) -> Result<(Observed, BTreeMap<String, LocalImage>), AppError> {
    use futures_util::stream::{self, StreamExt};
    let containers = observe_containers(client, &project.name)
        .await?
        .into_iter()
        .map(|(_, o, _)| o)
        .collect();
    // each image once (services often share one), side by side
    let records: BTreeMap<&String, String> = project
        .services
        .iter()
        .map(|(name, s)| (name, image_record_name(&image_name(&project.name, name, s))))
        .collect();
    let distinct: std::collections::BTreeSet<&String> = records.values().collect();
    let platform = Platform::host();
    let platform = &platform;
    let mut found: BTreeMap<String, Result<Option<LocalImage>, String>> = stream::iter(distinct)
        .map(|record| async move {
            let r = local::inspect(client, record, platform).await;
            (record.clone(), r.map_err(|e| e.to_string()))
        })
        .buffer_unordered(parallel_limit())
        .collect()
        .await;
    let mut images = BTreeMap::new();
    for (name, record) in &records {
        let fact = match found.get(record) {
            Some(Ok(Some(i))) => ImageFact::Present {
                digest: i.config_digest.clone(),
            },
            Some(Ok(None)) | None => ImageFact::Missing,
            Some(Err(e)) => return Err(AppError::Other(format!("image {record}: {e}"))),
        };
        images.insert((*name).clone(), fact);
    }
    let resolved = std::mem::take(&mut found)
        .into_iter()
        .filter_map(|(record, r)| Some((record, r.ok()??)))
        .collect();
    let volumes = crate::state::volumes::list(&crate::state::lib_dir())
        .map(|v| v.into_iter().map(|v| v.name).collect())
        .unwrap_or_default();
    let networks = super::network::existing(&crate::state::lib_dir()).unwrap_or_default();
    let observed = Observed {
        containers,
        images,
        networks,
        volumes,
    };
    Ok((observed, resolved))
}

/// The network modes of `services` (all when empty) berth can give, and their `external`
/// networks exist: checked before anything is changed.
pub fn check_network_modes(project: &Project, services: &[String]) -> Result<(), AppError> {
    for (name, s) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let mode = spec::network_mode(s);
        let known = matches!(mode, "" | "bridge" | "default" | "none" | "host")
            || mode.starts_with("service:")
            || mode.starts_with("container:");
        if !known {
            return Err(AppError::Other(format!(
                "service {name:?}: network_mode {mode:?} is not supported by berth (bridge, none, host, service:NAME or container:NAME)"
            )));
        }
        crate::plan::network::attachments(project, s).map_err(AppError::Other)?;
        for key in s.networks.keys() {
            if project.networks.get(key).is_some_and(|n| !n.external) {
                crate::plan::network::wanted_network(project, key, env!("CARGO_PKG_VERSION"))
                    .map_err(AppError::Other)?;
            }
        }
    }
    super::network::check_external(&crate::state::lib_dir(), project, services)
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
            found: Mutex::new(Vec::new()),
            images: Mutex::new(BTreeMap::new()),
            failed: AtomicBool::new(false),
            inherit_anonymous: Mutex::new(BTreeMap::new()),
            restart_support: tokio::sync::OnceCell::new(),
            run_publish: None,
        }
    }

    /// Reports how an operation on `id` ended: `done` when it succeeded, its error in place of
    /// the word when it failed; returns the result unchanged.
    fn reported(
        &self,
        id: &str,
        result: Result<(), AppError>,
        done: Event,
    ) -> Result<(), AppError> {
        match &result {
            Ok(()) => self.progress.send(done),
            Err(e) => self.progress.send(Event::error_message(id, e.to_string())),
        }
        result
    }

    /// Records a warning once.
    fn warn(&self, w: String) {
        // A poisoned lock only means a panic elsewhere; the list is still whole.
        let mut found = self.found.lock().unwrap_or_else(|p| p.into_inner());
        if !found.contains(&w) {
            found.push(w);
        }
    }

    fn collect_warnings(&mut self) {
        let found = std::mem::take(self.found.get_mut().unwrap_or_else(|p| p.into_inner()));
        for w in found {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        crate::state::container_dir(&self.lib, self.client.namespace(), id)
    }

    /// Runs every node, in parallel where the edges allow; at the first failure starts nothing
    /// more, lets what runs finish, and returns that failure (`up`).
    pub async fn run_all(&mut self, plan: &Plan) -> Result<(), AppError> {
        let mut errors = self.run_graph(plan, false).await;
        self.collect_warnings();
        match errors.is_empty() {
            true => Ok(()),
            false => Err(errors.remove(0)),
        }
    }

    /// Runs every node, going on after failures and returning them all (`down`: STYLE,
    /// teardown collects every error). A node whose predecessor failed still runs: removing a
    /// container whose stop failed is what the user wants, and it fails on its own if it must.
    pub async fn run_collecting(&mut self, plan: &Plan) -> Vec<String> {
        let errors = self.run_graph(plan, true).await;
        self.collect_warnings();
        errors.into_iter().map(|e| e.to_string()).collect()
    }

    /// The parallel loop: the scheduler says what may start, at most [`parallel_limit`] nodes
    /// run at once (as futures of this task: the progress and the client are shared).
    async fn run_graph(&self, plan: &Plan, keep_going: bool) -> Vec<AppError> {
        use futures_util::stream::{FuturesUnordered, StreamExt};
        let limit = parallel_limit();
        self.failed.store(false, Ordering::Relaxed);
        let mut sched = crate::plan::Scheduler::new(plan, keep_going);
        let mut running = FuturesUnordered::new();
        let mut errors = Vec::new();
        loop {
            for i in sched.take(limit - running.len()) {
                running.push(async move { (i, self.run_node(plan, i).await) });
            }
            let Some((i, result)) = running.next().await else {
                break;
            };
            match result {
                Ok(()) => sched.succeeded(i),
                Err(e) => {
                    sched.failed(i);
                    errors.push(e);
                    if !keep_going {
                        self.failed.store(true, Ordering::Relaxed);
                    }
                }
            }
            if sched.is_over() && !sched.is_running() {
                break;
            }
        }
        errors
    }

    /// A node: first the `depends_on` conditions of its edges, then its operation.
    async fn run_node(&self, plan: &Plan, i: usize) -> Result<(), AppError> {
        let node = &plan.nodes[i];
        for e in &node.after {
            let target = &plan.nodes[e.node].op;
            if let Some(w) = super::converge_wait::edge(
                self.client,
                &self.lib,
                self.progress,
                target,
                e,
                &self.failed,
            )
            .await?
            {
                self.warn(w);
            }
        }
        self.run_op(&node.op).await
    }

    /// One operation.
    pub async fn run(&mut self, op: &Op) -> Result<(), AppError> {
        let r = self.run_op(op).await;
        self.collect_warnings();
        r
    }

    async fn run_op(&self, op: &Op) -> Result<(), AppError> {
        match op {
            Op::CreateNetwork { name } => {
                let notes = super::network::create_network(
                    &self.lib,
                    &crate::state::run_dir(),
                    self.project,
                    name,
                    self.progress,
                )
                .await?;
                for n in notes {
                    self.warn(n);
                }
                Ok(())
            }
            Op::RemoveNetwork { name } => {
                let containers = self
                    .client
                    .container_list(&[])
                    .await?
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                let live = super::network::live_endpoints(
                    &self.lib,
                    self.client.namespace(),
                    &containers,
                )?;
                super::network::remove_network(
                    &self.lib,
                    &crate::state::run_dir(),
                    name,
                    &live,
                    self.progress,
                )
                .await
            }
            Op::CreateVolume { name } => {
                let wanted =
                    super::storage::project_volume(self.project, name, env!("CARGO_PKG_VERSION"))
                        .unwrap_or_else(|| crate::state::volumes::Volume {
                            name: name.clone(),
                            driver: "local".into(),
                            labels: BTreeMap::from([(
                                labels::PROJECT.to_owned(),
                                self.project.name.clone(),
                            )]),
                            options: BTreeMap::new(),
                            created_at: String::new(),
                        });
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
                for w in pulled.warnings {
                    self.warn(w);
                }
                // what observe resolved before the pull is stale now
                self.images
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&image_record_name(image));
                Ok(())
            }
            Op::BuildImage { service, image } => Err(AppError::Other(format!(
                "service {service:?}: building {image} is not implemented yet"
            ))),
            Op::RemoveImage { image } => {
                super::images::remove_image(self.client, image, self.progress).await
            }
            Op::CreateContainer {
                service,
                number,
                name,
            } => {
                let id = container_id(name);
                self.progress.send(Event::creating(&id));
                self.reported(
                    &id,
                    self.create(service, *number, name).await,
                    Event::created(&id),
                )
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
                    let anonymous = self
                        .client
                        .container_get(&old.id)
                        .await?
                        .map(|c| super::storage::anonymous_volumes(&c.labels))
                        .unwrap_or_default();
                    self.stop(&old.id, Some(&old.service), *timeout).await?;
                    self.remove(&old.id).await?;
                    self.inherit_anonymous
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(name.clone(), anonymous);
                    self.create(service, *number, name).await
                }
                .await;
                self.reported(&id, r, Event::recreated(&id))
            }
            Op::StartContainer { name, id, .. } => {
                let cid = id.clone().unwrap_or_else(|| name.clone());
                let pid = container_id(name);
                self.progress.send(Event::starting(&pid));
                self.reported(&pid, self.start(&cid).await, Event::started(&pid))
            }
            Op::StopContainer { target, timeout } => {
                let pid = container_id(&target.name);
                self.progress.send(Event::stopping(&pid));
                let r = self.stop(&target.id, Some(&target.service), *timeout).await;
                self.reported(&pid, r, Event::stopped(&pid))
            }
            Op::RestartContainer { target, timeout } => {
                let pid = container_id(&target.name);
                self.progress.send(Event::new(
                    &pid,
                    crate::progress::Status::Working,
                    "Restarting",
                ));
                let r = async {
                    self.stop(&target.id, Some(&target.service), *timeout)
                        .await?;
                    self.start(&target.id).await
                }
                .await;
                self.reported(&pid, r, Event::started(&pid))
            }
            Op::RemoveContainer { target, volumes } => {
                let pid = container_id(&target.name);
                self.progress.send(Event::removing(&pid));
                let record = match volumes {
                    true => self.client.container_get(&target.id).await?,
                    false => None,
                };
                let r = self.remove(&target.id).await;
                self.reported(&pid, r, Event::removed(&pid))?;
                if let Some(c) = record {
                    let errors = super::storage::remove_anonymous(&self.lib, &c.labels);
                    if !errors.is_empty() {
                        return Err(AppError::Other(errors.join("\n")));
                    }
                }
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
                self.reported(&pid, r, Event::removed(&pid))
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

    pub(super) async fn image(
        &self,
        service: &str,
        s: &ServiceConfig,
    ) -> Result<LocalImage, AppError> {
        let record = image_record_name(&image_name(&self.project.name, service, s));
        let cached = self
            .images
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&record)
            .cloned();
        if let Some(i) = cached {
            return Ok(i);
        }
        let image = local::inspect(self.client, &record, &Platform::host())
            .await
            .map_err(|e| AppError::Other(format!("image {record}: {e}")))?
            .ok_or_else(|| {
                AppError::Other(format!(
                    "service {service:?}: image {record} is not in containerd"
                ))
            })?;
        self.images
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record, image.clone());
        Ok(image)
    }

    /// Takes images already resolved (by record name, as [`observe_with_images`] returns
    /// them), so creates need not read them again. A pull of the plan forgets its image.
    pub fn remember_images(&mut self, images: BTreeMap<String, LocalImage>) {
        self.images
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .extend(images);
    }

    /// Creates container `name`: a snapshot on the image's top layer, the container's own
    /// files, the spec, and the record with compose's labels.
    async fn create(&self, service: &str, number: i64, name: &str) -> Result<(), AppError> {
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
        let inherited = self
            .inherit_anonymous
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
            .unwrap_or_default();
        let mut made_volumes: Vec<String> = Vec::new();
        let exe = std::env::current_exe()
            .map_err(|e| AppError::Other(format!("find berth's own binary: {e}")))?;

        // The snapshot is prepared under a lease so the collector cannot take it before the
        // record refers to it.
        let lease = format!("berth-create-{name}-{}", std::process::id());
        client
            .lease_create(&lease, CREATE_LEASE_TTL, BTreeMap::new())
            .await?;
        let result = async {
            let leased = client.with_lease(&lease)?;
            let prepare = async {
                match leased
                    .snapshot_prepare(SNAPSHOTTER, name, &top, BTreeMap::new())
                    .await
                {
                    Ok(m) => Ok(m),
                    // left by a create that died half-way: start from a clean one
                    Err(e) if e.code() == Some(Code::AlreadyExists) => {
                        client.snapshot_remove(SNAPSHOTTER, name).await?;
                        Ok(leased
                            .snapshot_prepare(SNAPSHOTTER, name, &top, BTreeMap::new())
                            .await?)
                    }
                    Err(e) => Err(AppError::from(e)),
                }
            };
            let publish = match &self.run_publish {
                Some(p) => p.clone(),
                None => crate::plan::ports::service_ports(service, s)
                    .map_err(|e| AppError::Other(e.to_string()))?,
            };
            let joined = super::network::join(
                &self.lib,
                &crate::state::run_dir(),
                client.namespace(),
                project,
                name,
                s,
                &publish,
                &dir,
                &exe,
            )
            .await?;
            // the container's own files are written (and synced) while containerd prepares
            // the snapshot; both are waited for, so a failure cleans up after both
            let files = {
                let (dir, name, s, joined) =
                    (dir.clone(), name.to_owned(), s.clone(), joined.clone());
                super::blocking::run(move || ContainerFiles::write(&dir, &name, &s, &joined))
            };
            let (mounts, files) = tokio::join!(prepare, files);
            let (mounts, (files, file_warnings)) = (mounts?, files??);
            for w in file_warnings {
                self.warn(w);
            }
            let host = super::facts::host_facts(client, &project.name, s).await?;
            let storage = super::storage::resolve(
                client,
                project,
                &self.lib,
                service,
                s,
                &image.config,
                &dir,
                &inherited,
                &mounts,
            )
            .await?;
            made_volumes.clone_from(&storage.created);
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
                init_binary: host.init_binary,
                devices: host.devices,
                host_devices: host.host_devices,
                ipc_ns: host.ipc_ns,
                pid_ns: host.pid_ns,
                netns: host.netns,
                network_hook: joined.hook.clone(),
                shm_source: host.shm_source,
                mounts: storage.mounts.clone(),
                ..Facts::default()
            };
            let built = spec::build(s, &image.config, &facts)
                .map_err(|e| AppError::Other(e.to_string()))?;
            for w in &built.warnings {
                self.warn(w.to_string());
            }
            let spec_json =
                serde_json::to_vec(&built.spec).map_err(|e| AppError::Other(e.to_string()))?;
            let mut labels =
                crate::plan::container_labels(project, service, number, Some(&image.config_digest));
            labels.insert(labels::WORKING_DIR.into(), self.working_dir.clone());
            labels.insert(labels::CONFIG_FILES.into(), self.config_files.clone());
            labels.insert(labels::VERSION.into(), env!("CARGO_PKG_VERSION").into());
            if !storage.record.is_empty() {
                labels.insert(super::storage::MOUNTS_LABEL.into(), storage.label());
            }
            if !joined.ports.is_empty() {
                let value = crate::plan::ports::encode(name, &joined.ports)
                    .map_err(|e| AppError::Other(e.to_string()))?;
                labels.insert(crate::plan::ports::PORTS_LABEL.into(), value);
            }
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
            Ok::<(), AppError>(())
        }
        .await;
        if result.is_err() {
            let _ = super::network::leave(
                &self.lib,
                &crate::state::run_dir(),
                client.namespace(),
                name,
            )
            .await;
            let _ = client.snapshot_remove(SNAPSHOTTER, name).await;
            let _ = std::fs::remove_dir_all(&dir);
            for v in &made_volumes {
                let _ = crate::state::volumes::remove(&self.lib, v);
            }
        }
        let deleted = client.lease_delete(&lease).await;
        result?;
        deleted?;
        Ok(())
    }

    /// Starts container `id`'s task (a stopped task of an earlier run is deleted first), its
    /// output going to berth's json-file log driver.
    async fn start(&self, id: &str) -> Result<(), AppError> {
        let client = self.client;
        // three independent reads, side by side
        let (task, mounts, record) = tokio::try_join!(
            client.task_get(id),
            client.snapshot_mounts(SNAPSHOTTER, id),
            client.container_get(id),
        )?;
        if task.is_some() {
            client.task_delete(id).await?;
        }
        let service = record.and_then(|c| c.labels.get(labels::SERVICE).cloned());
        let dir = self.dir(id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| AppError::Other(format!("create {}: {e}", dir.display())))?;
        let exe = std::env::current_exe()
            .map_err(|e| AppError::Other(format!("find berth's own binary: {e}")))?;
        super::health::prepare(self, service.as_deref(), &dir).await?;
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
        &self,
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
        let support = *self
            .restart_support
            .get_or_try_init(|| async {
                let f = self.client.features().await?;
                Ok::<_, AppError>(restart::MonitorSupport {
                    monitor: f.restart_monitor,
                    policies: f.restart_policies,
                })
            })
            .await?;
        let (labels, warning) = restart::start_labels(name, policy, support, uri);
        if let Some(w) = warning {
            self.warn(w);
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
    fn rotation(&self, service: Option<&str>) -> Rotation {
        let logging = service
            .and_then(|s| self.project.services.get(s))
            .and_then(|s| s.logging.clone());
        let Some(logging) = logging else {
            return Rotation::default();
        };
        if !logging.driver.is_empty() && logging.driver != "json-file" {
            self.warn(format!(
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
                self.warn(format!("logging options: {e}"));
                Rotation::default()
            }
        }
    }

    /// Stops container `id`'s task: the stop signal, the grace period, then SIGKILL. The
    /// stopped task is kept, so `ps` shows the exit code (as Docker's `Exited (0)`); `start`
    /// and `remove` delete it. A container with no running task has nothing to stop.
    async fn stop(
        &self,
        id: &str,
        service: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<(), AppError> {
        let client = self.client;
        // the task is read while the monitor labels go: one round trip instead of two
        let (_, task) =
            tokio::try_join!(self.unmonitor(id), async { Ok(client.task_get(id).await?) })?;
        let Some(task) = task else {
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
        super::network::forget_dns(&crate::state::run_dir(), &self.dir(id))?;
        Ok(())
    }

    /// Removes container `id`: its task (killed if it still runs), the record, the snapshot and
    /// its own files.
    async fn remove(&self, id: &str) -> Result<(), AppError> {
        let client = self.client;
        let (_, task) =
            tokio::try_join!(self.unmonitor(id), async { Ok(client.task_get(id).await?) })?;
        if let Some(t) = task {
            if t.status != TaskStatus::Stopped {
                client.task_kill(id, SIGKILL, true).await?;
                client.task_wait(id).await?;
            }
            client.task_delete(id).await?;
        }
        super::network::unplug(&crate::state::run_dir(), &self.dir(id)).await?;
        client.container_delete(id).await?;
        super::network::leave(&self.lib, &crate::state::run_dir(), client.namespace(), id).await?;
        client.snapshot_remove(SNAPSHOTTER, id).await?;
        let dir = self.dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AppError::Other(format!("remove {}: {e}", dir.display()))),
        }
    }
}

/// How many plan nodes run at once: `COMPOSE_PARALLEL_LIMIT` when set to a positive number,
/// else 16 (compose sets no limit; this keeps a large project from opening hundreds of calls).
pub fn parallel_limit() -> usize {
    std::env::var("COMPOSE_PARALLEL_LIMIT")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(16)
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

impl ContainerFiles {
    /// Writes hostname, hosts and resolv.conf into `dir` (contents: [`spec::etc`]). With the
    /// host's network the container sees the host's name, hosts and resolvers (as Docker
    /// does); otherwise its own name (or `hostname:`), Docker's localhost lines and the host's
    /// resolvers without loopback ones; `extra_hosts` and `dns*` on top. Returns warnings.
    fn write(
        dir: &Path,
        name: &str,
        s: &ServiceConfig,
        joined: &super::network::Joined,
    ) -> Result<(ContainerFiles, Vec<String>), AppError> {
        let host_net = s.network_mode == "host";
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::Other(format!("create {}: {e}", dir.display())))?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let (hostname, base_hosts) = if host_net {
            let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| name.to_owned());
            let hosts = std::fs::read_to_string("/etc/hosts")
                .unwrap_or_else(|_| spec::etc::DEFAULT_HOSTS.into());
            (h, hosts)
        } else if !s.hostname.is_empty() {
            (s.hostname.clone(), spec::etc::DEFAULT_HOSTS.to_owned())
        } else {
            (name.to_owned(), spec::etc::DEFAULT_HOSTS.to_owned())
        };
        let (mut hosts, warnings) = spec::etc::hosts(&base_hosts, s);
        // Docker's line for the container itself on its first network
        for a in &joined.addrs {
            hosts.push_str(&format!("{a}\t{hostname}\n"));
        }
        let resolv = match joined.nameservers.is_empty() {
            true => spec::etc::resolv_conf(&host_resolv, host_net, s),
            false => spec::etc::resolv_conf_berth_dns(&host_resolv, &joined.nameservers, s),
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
        let warnings = warnings
            .into_iter()
            .map(|w| format!("service {:?}: {w}", s.name))
            .collect();
        Ok((files, warnings))
    }
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
