//! `exec`: run a command in a service's running container, as Docker Compose 2.26 does
//! (`cmd/compose/exec.go`, `pkg/compose/exec.go`): the container is found by its labels (the
//! lowest container number, or `--index`), the process is the container's own process spec with
//! the command, environment, user, working directory, terminal and privileges changed
//! (`spec::exec`), its streams are attached through FIFOs (`stdio`), and berth exits with the
//! process's exit code.

use super::engine::EngineOptions;
use super::lifecycle::observe_containers;
use super::stdio::{self, Fifos, Target};
use super::{AppError, ProjectOptions};
use crate::containerd::Stdio;
use crate::plan::labels;
use crate::spec::exec::{bounding_mask, exec_id, exec_process, parse_spec, ExecEdits};

#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub project: ProjectOptions,
    pub engine: EngineOptions,
    pub service: String,
    pub command: Vec<String>,
    /// `-e KEY=VAL` (or `KEY`, taken from berth's environment when set there).
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub privileged: bool,
    /// `--index`: the container number; 0 (or less) means the lowest one.
    pub index: i64,
    pub detach: bool,
    pub tty: bool,
    /// Attach berth's stdin (compose's hidden `-i`, on by default).
    pub interactive: bool,
}

/// Runs the exec; returns the process's exit code (0 when detached).
pub async fn run(opts: &ExecOptions, warnings: &mut Vec<String>) -> Result<i32, AppError> {
    let name = super::images::project_name(&opts.project, warnings)?.to_lowercase();
    let client = opts.engine.connect().await?;
    let container = target(&client, &name, &opts.service, opts.index).await?;
    let task = client
        .task_get(&container.id)
        .await?
        .ok_or_else(|| not_running(&opts.service, opts.index))?;
    let spec = parse_spec(&container.spec_json).map_err(|e| AppError::Other(e.to_string()))?;
    // The user is resolved against the container's files as they are now, through the init
    // process's root.
    let root = std::path::PathBuf::from(format!("/proc/{}/root", task.pid));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).ok();
    let group = std::fs::read_to_string(root.join("etc/group")).ok();
    let edits = ExecEdits {
        args: opts.command.clone(),
        env: resolve_env(&opts.env, |k| std::env::var(k).ok()),
        user: opts.user.clone(),
        cwd: opts.workdir.clone(),
        tty: opts.tty && !opts.detach,
        privileged: opts.privileged,
        host_caps: std::fs::read_to_string("/proc/self/status")
            .ok()
            .as_deref()
            .and_then(bounding_mask),
        console_size: stdio::terminal_size(),
    };
    let process = exec_process(&spec, &edits, passwd.as_deref(), group.as_deref())
        .map_err(|e| AppError::Other(e.to_string()))?;
    let process_json = serde_json::to_vec(&process).map_err(|e| AppError::Other(e.to_string()))?;
    let id = exec_id(&random_bytes()?);

    if opts.detach {
        let none = Stdio::default();
        client.exec(&container.id, &id, process_json, &none).await?;
        client.exec_start(&container.id, &id).await?;
        return Ok(0);
    }

    let dir =
        crate::state::container_dir(&crate::state::lib_dir(), client.namespace(), &container.id)
            .join(&id);
    let fifos = Fifos::create(&dir, opts.interactive, edits.tty)?;
    let result = async {
        client
            .exec(&container.id, &id, process_json, &fifos.stdio())
            .await?;
        let target = Target {
            client: &client,
            container: &container.id,
            exec_id: &id,
        };
        let code = stdio::attach(target, &fifos, async {
            client.exec_start(&container.id, &id).await?;
            Ok(())
        })
        .await;
        let _ = client.exec_delete(&container.id, &id).await;
        code
    }
    .await;
    fifos.remove();
    Ok(i32::try_from(result?).unwrap_or(255))
}

/// compose `getSpecifiedContainer`: the service's running containers (one-offs included), the
/// one numbered `index` when given, else the lowest number.
async fn target(
    client: &crate::containerd::Client,
    project: &str,
    service: &str,
    index: i64,
) -> Result<crate::containerd::Container, AppError> {
    let mut found: Vec<_> = observe_containers(client, project)
        .await?
        .into_iter()
        .filter(|(_, o, _)| {
            o.service() == service
                && o.label(labels::CONFIG_HASH).is_some()
                && o.state.is_up()
                && (index <= 0 || o.number() == Some(index))
        })
        .collect();
    found.sort_by_key(|(_, o, _)| o.number().unwrap_or(0));
    match found.into_iter().next() {
        Some((c, _, _)) => Ok(c),
        None => Err(not_running(service, index)),
    }
}

/// compose's texts.
fn not_running(service: &str, index: i64) -> AppError {
    if index > 0 {
        AppError::Other(format!(
            "service {service:?} is not running container #{index}"
        ))
    } else {
        AppError::Other(format!("service {service:?} is not running"))
    }
}

/// compose `NewMappingWithEquals(...).Resolve(lookup)`: `KEY` without a value takes berth's
/// own value of KEY when it has one, and stays bare (removing the variable) otherwise.
pub fn resolve_env(entries: &[String], lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            if e.contains('=') {
                e.clone()
            } else {
                match lookup(e) {
                    Some(v) => format!("{e}={v}"),
                    None => e.clone(),
                }
            }
        })
        .collect()
}

/// `N` random bytes from the kernel.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], AppError> {
    use std::io::Read;
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| AppError::Other(format!("read /dev/urandom: {e}")))?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_keys_take_the_local_value_when_there_is_one() {
        let env = resolve_env(&["A=1".into(), "B".into(), "C".into()], |k| {
            (k == "B").then(|| "from-env".to_string())
        });
        assert_eq!(env, ["A=1", "B=from-env", "C"]);
    }

    #[test]
    fn not_running_texts_are_composes() {
        assert_eq!(
            not_running("web", 0).to_string(),
            "service \"web\" is not running"
        );
        assert_eq!(
            not_running("web", 3).to_string(),
            "service \"web\" is not running container #3"
        );
    }
}
