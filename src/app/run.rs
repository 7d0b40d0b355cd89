//! `run`: a one-off container for a service, as Docker Compose 2.26 makes it
//! (`cmd/compose/run.go`, `pkg/compose/run.go`): its dependencies converged and started first
//! (the `up` planner on the dependency services, unless `--no-deps`), then a container named
//! `<project>-<service>-run-<12 hex>` (or `--name`), labelled `com.docker.compose.oneoff=True`
//! with a random `com.docker.compose.slug`, made from the service changed by the run options.
//! Detached, it logs like any other container and its name is printed; attached, its streams
//! go straight through FIFOs or a TTY (not through the log files) and berth exits with its
//! exit code; `--rm` removes it (task, record, snapshot, files) afterwards.
//!
//! Two steps, so the CLI can end the progress view before the container's streams take over
//! the terminal: [`prepare`] (deps, image, create; under the project lock) and [`finish`]
//! (start, attach or detach, remove).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::engine::EngineOptions;
use super::exec::{random_bytes, resolve_env};
use super::lifecycle::{self, Executor, STARTED_AT_LABEL};
use super::stdio::{self, Fifos, Target};
use super::{AppError, ProjectOptions};
use crate::containerd::Client;
use crate::image::store::SNAPSHOTTER;
use crate::model::project::image_name;
use crate::model::types::{Project, ServiceConfig, ShellCommand};
use crate::plan::{self, labels, ContainerRef, ImageFact, Op, UpOptions};
use crate::progress::Progress;
use crate::spec::exec::{hex, oneoff_name};
use crate::state;

/// compose `api.SlugLabel`: the one-off container's random id.
pub const SLUG_LABEL: &str = "com.docker.compose.slug";

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub project: ProjectOptions,
    pub engine: EngineOptions,
    pub service: String,
    pub command: Vec<String>,
    /// `--entrypoint`, as one shell-quoted string.
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    /// `-l KEY=VAL`.
    pub labels: Vec<String>,
    pub rm: bool,
    pub detach: bool,
    pub tty: bool,
    pub interactive: bool,
    pub name: Option<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub no_deps: bool,
    pub volumes: Vec<String>,
    pub publish: Vec<String>,
    pub service_ports: bool,
    pub use_aliases: bool,
}

/// A created one-off container, ready to start.
pub struct Prepared {
    client: Client,
    /// The project with the service as the run options changed it.
    project: Project,
    service: String,
    /// The container's id, which is its name.
    pub name: String,
    detach: bool,
    rm: bool,
    tty: bool,
    interactive: bool,
}

/// How `finish` ended.
pub enum Outcome {
    /// Detached: the container's name, for the CLI to print.
    Detached(String),
    /// Attached: the container's exit code.
    Exited(i32),
}

/// Starts the dependencies and creates the one-off container.
pub async fn prepare(
    opts: &RunOptions,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<Prepared, AppError> {
    let loaded = super::load_project(&opts.project, std::slice::from_ref(&opts.service), warnings)?;
    let project = &loaded.project;
    let Some(original) = project.services.get(&opts.service) else {
        return Err(AppError::Other(format!(
            "no such service: {}",
            opts.service
        )));
    };
    // compose refuses a bad -p before anything starts (types.ParsePortConfig in run's apply)
    let publish =
        plan::ports::run_ports(&opts.service, original, &opts.publish, opts.service_ports)
            .map_err(|e| AppError::Other(e.to_string()))?;
    if opts.rm && opts.detach {
        warnings.push(
            "--rm with -d: berth has no daemon to remove the container when it exits; `down --remove-orphans` removes it"
                .into(),
        );
    }
    let graph = plan::ServiceGraph::new(project, &loaded.disabled)
        .map_err(|e| AppError::Other(e.to_string()))?;
    let deps: Vec<String> = if opts.no_deps {
        Vec::new()
    } else {
        graph
            .with_dependencies(std::slice::from_ref(&opts.service))
            .into_iter()
            .filter(|s| *s != opts.service)
            .collect()
    };
    let mut checked = deps.clone();
    checked.push(opts.service.clone());
    lifecycle::check_network_modes(project, &checked)?;

    let slug = hex(&random_bytes::<32>()?);
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| oneoff_name(&project.name, &opts.service, &slug));
    let mut service = original.clone();
    apply_run_options(&mut service, opts, &name, |k| loaded.env.get(k).cloned())?;
    let mut changed = project.clone();
    changed.services.insert(opts.service.clone(), service);
    let cwd = std::env::current_dir().map_err(|e| AppError::Other(format!("getwd: {e}")))?;
    let extra = super::run_volumes::apply(&mut changed, &opts.service, &opts.volumes, &cwd)?;

    let _lock = super::up::lock(&opts.engine.namespace, &project.name, progress)?;
    let client = opts.engine.connect().await?;
    if client.container_get(&name).await?.is_some() {
        return Err(AppError::Other(format!(
            "Conflict. The container name \"/{name}\" is already in use. You have to remove (or rename) that container to be able to reuse that name."
        )));
    }
    let observed = lifecycle::observe(&client, project).await?;
    let puller = opts.engine.puller();
    let working_dir = loaded.working_dir.display().to_string();
    let config_files = loaded
        .config_files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");

    if !deps.is_empty() {
        // compose `startDependencies`: `create` and `start` of the dependencies, with the
        // service being run counted as disabled (it is in `services` of no plan node here)
        let ignore_orphans = std::env::var("COMPOSE_IGNORE_ORPHANS")
            .map(|v| matches!(v.as_str(), "1" | "true" | "True" | "TRUE" | "t" | "T"))
            .unwrap_or(false);
        let plan = plan::up(
            project,
            &loaded.disabled,
            &observed,
            &UpOptions {
                services: deps,
                ignore_orphans,
                ..Default::default()
            },
        )
        .map_err(|e| AppError::Other(e.to_string()))?;
        warnings.extend(plan.warnings.iter().cloned());
        let mut exec = Executor::new(&client, project, progress, state::lib_dir());
        exec.puller = Some(&puller);
        exec.working_dir = working_dir.clone();
        exec.config_files = config_files.clone();
        let r = exec.run_all(&plan).await;
        warnings.append(&mut exec.warnings);
        r?;
    }

    let quiet = Progress::disabled();
    let mut exec = Executor::new(&client, &changed, &quiet, state::lib_dir());
    exec.run_publish = Some(publish);
    exec.puller = Some(&puller);
    exec.working_dir = working_dir;
    exec.config_files = config_files;
    let r = async {
        // `-v` volumes: plain ones made as the engine would, project ones as `up` makes them
        super::run_volumes::make_plain(&state::lib_dir(), &extra)?;
        for key in &extra.project {
            if changed.volumes.get(key).is_some_and(|v| !v.external) {
                let name = super::storage::volume_name(&changed, key);
                exec.run(&Op::CreateVolume { name }).await?;
            }
        }
        if observed.images.get(&opts.service) == Some(&ImageFact::Missing) {
            let image = image_name(&project.name, &opts.service, original);
            exec.run(&Op::PullImage {
                service: opts.service.clone(),
                image,
            })
            .await?;
        }
        exec.run(&Op::CreateContainer {
            service: opts.service.clone(),
            number: 1,
            name: name.clone(),
        })
        .await
    }
    .await;
    // the one-off's own spec warnings repeat those of the service's containers
    for w in exec.warnings.drain(..) {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    r?;
    let marks = BTreeMap::from([
        (labels::ONEOFF.to_owned(), Some("True".to_owned())),
        (SLUG_LABEL.to_owned(), Some(slug)),
    ]);
    if let Err(e) = client.container_update_labels(&name, &marks).await {
        let _ = remove(&client, &changed, &opts.service, &name).await;
        return Err(e.into());
    }
    Ok(Prepared {
        client,
        project: changed,
        service: opts.service.clone(),
        name,
        detach: opts.detach,
        rm: opts.rm,
        tty: opts.tty,
        interactive: opts.interactive,
    })
}

/// Starts the one-off container: detached with its logs, or attached to berth's streams until
/// it exits (then removed with `--rm`).
pub async fn finish(p: Prepared) -> Result<Outcome, AppError> {
    let client = &p.client;
    let quiet = Progress::disabled();
    if p.detach {
        let mut exec = Executor::new(client, &p.project, &quiet, state::lib_dir());
        exec.run(&Op::StartContainer {
            service: p.service.clone(),
            name: p.name.clone(),
            id: Some(p.name.clone()),
        })
        .await?;
        return Ok(Outcome::Detached(p.name));
    }
    let dir = stdio_dir(&state::lib_dir(), client.namespace(), &p.name);
    let result = async {
        let fifos = Fifos::create(&dir, p.interactive, p.tty)?;
        let mounts = client.snapshot_mounts(SNAPSHOTTER, &p.name).await?;
        let target = Target {
            client,
            container: &p.name,
            exec_id: "",
        };
        let code = stdio::attach(target, &fifos, async {
            client.task_create(&p.name, &mounts, &fifos.stdio()).await?;
            if let Err(e) = client.task_start(&p.name).await {
                let _ = client.task_delete(&p.name).await;
                return Err(e.into());
            }
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            client
                .container_update_labels(
                    &p.name,
                    &BTreeMap::from([(STARTED_AT_LABEL.to_owned(), Some(now))]),
                )
                .await?;
            Ok(())
        })
        .await;
        fifos.remove();
        code
    }
    .await;
    if p.rm {
        let removed = remove(client, &p.project, &p.service, &p.name).await;
        let code = result?;
        removed?;
        return Ok(Outcome::Exited(i32::try_from(code).unwrap_or(255)));
    }
    // The stopped task stays, so `ps -a` shows the exit code.
    Ok(Outcome::Exited(i32::try_from(result?).unwrap_or(255)))
}

/// Removes the one-off container: task, record, snapshot and its own files.
async fn remove(
    client: &Client,
    project: &Project,
    service: &str,
    name: &str,
) -> Result<(), AppError> {
    let quiet = Progress::disabled();
    let mut exec = Executor::new(client, project, &quiet, state::lib_dir());
    exec.run(&Op::RemoveContainer {
        target: ContainerRef {
            id: name.to_owned(),
            name: name.to_owned(),
            service: service.to_owned(),
        },
        volumes: true,
    })
    .await
}

/// compose `applyRunOptions` and `runOptions.apply`: the service as this run changes it. A
/// run has one container, no restart policy and no published ports; `-e KEY` without a value
/// takes the project environment's value, and is dropped when it has none.
pub fn apply_run_options(
    s: &mut ServiceConfig,
    opts: &RunOptions,
    name: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), AppError> {
    s.tty = opts.tty;
    s.stdin_open = opts.interactive;
    s.container_name = name.to_owned();
    if !opts.command.is_empty() {
        s.command = ShellCommand(Some(opts.command.clone()));
    }
    if let Some(u) = opts.user.as_deref().filter(|u| !u.is_empty()) {
        s.user = u.to_owned();
    }
    if let Some(w) = opts.workdir.as_deref().filter(|w| !w.is_empty()) {
        s.working_dir = w.to_owned();
    }
    if let Some(ep) = &opts.entrypoint {
        let words = shell_words::split(ep)
            .map_err(|e| AppError::Other(format!("--entrypoint {ep:?}: {e}")))?;
        s.entrypoint = ShellCommand(Some(words));
        if opts.command.is_empty() {
            s.command = ShellCommand(Some(Vec::new()));
        }
    }
    for e in resolve_env(&opts.env, lookup) {
        if let Some((k, v)) = e.split_once('=') {
            s.environment.0.insert(k.to_owned(), Some(v.to_owned()));
        }
    }
    for l in &opts.labels {
        let Some((k, v)) = l.split_once('=') else {
            return Err(AppError::Other("label must be set as KEY=VALUE".into()));
        };
        s.labels.0.insert(k.to_owned(), v.to_owned());
    }
    s.scale = Some(1);
    s.restart.clear();
    if let Some(d) = s.deploy.as_mut() {
        d.restart_policy = None;
    }
    if !opts.service_ports {
        s.ports.clear();
    }
    Ok(())
}

/// Where the one-off's FIFOs live: inside its own directory, so removing the container removes
/// them even when berth was killed while attached.
pub fn stdio_dir(lib: &std::path::Path, namespace: &str, name: &str) -> PathBuf {
    state::container_dir(lib, namespace, name).join("stdio")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RunOptions {
        RunOptions {
            service: "web".into(),
            interactive: true,
            ..Default::default()
        }
    }

    #[test]
    fn entrypoint_without_command_clears_the_command() {
        let mut s = ServiceConfig {
            command: ShellCommand(Some(vec!["serve".into()])),
            restart: "always".into(),
            ..Default::default()
        };
        let o = RunOptions {
            entrypoint: Some("sh -c 'echo hi'".into()),
            ..opts()
        };
        apply_run_options(&mut s, &o, "p-web-run-1", |_| None).unwrap();
        assert_eq!(s.entrypoint.0.as_deref().unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(s.command.0.as_deref(), Some(&[][..]));
        assert_eq!(s.restart, "");
        assert_eq!(s.container_name, "p-web-run-1");
        assert_eq!(s.scale, Some(1));
        assert!(s.stdin_open);
    }

    #[test]
    fn command_user_workdir_env_and_labels_apply() {
        let mut s = ServiceConfig::default();
        s.environment.0.insert("KEEP".into(), Some("1".into()));
        s.environment.0.insert("OVER".into(), Some("old".into()));
        let o = RunOptions {
            command: vec!["id".into(), "-u".into()],
            user: Some("1000".into()),
            workdir: Some("/tmp".into()),
            env: vec!["OVER=new".into(), "FROM_ENV".into(), "MISSING".into()],
            labels: vec!["a=b".into()],
            tty: true,
            ..opts()
        };
        apply_run_options(&mut s, &o, "n", |k| {
            (k == "FROM_ENV").then(|| "x".to_string())
        })
        .unwrap();
        assert_eq!(s.command.0.as_deref().unwrap(), ["id", "-u"]);
        assert_eq!((s.user.as_str(), s.working_dir.as_str()), ("1000", "/tmp"));
        let env: Vec<(String, Option<String>)> = s
            .environment
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(
            env,
            [
                ("KEEP".to_string(), Some("1".to_string())),
                ("OVER".to_string(), Some("new".to_string())),
                ("FROM_ENV".to_string(), Some("x".to_string())),
            ]
        );
        assert_eq!(s.labels.0.get("a").map(String::as_str), Some("b"));
        assert!(s.tty);
        let bad = RunOptions {
            labels: vec!["nolabel".into()],
            ..opts()
        };
        assert_eq!(
            apply_run_options(&mut s, &bad, "n", |_| None)
                .unwrap_err()
                .to_string(),
            "label must be set as KEY=VALUE"
        );
    }
}
