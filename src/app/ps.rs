//! `ps`: the project's containers as Docker Compose lists them, with Docker's status strings
//! (`Up 3 seconds`, `Up 3 seconds (healthy)`, `Exited (3) 2 seconds ago`, `Created`); the
//! health comes from the state file the container's prober writes (`crate::health`). Ports come
//! from the record berth keeps on each container (`plan::ports::PORTS_LABEL`), shown while the
//! container runs as Docker shows its engine's bindings (none once it has stopped).

use std::time::SystemTime;

use super::engine::EngineOptions;
use super::lifecycle::{self, STARTED_AT_LABEL};
use super::{AppError, ProjectOptions};
use crate::image::reference::ImageRef;
use crate::plan::ports::{self, Publisher};
use crate::plan::{ContainerState, ObservedContainer};

#[derive(Clone, Debug, Default)]
pub struct PsOptions {
    pub project: ProjectOptions,
    pub engine: EngineOptions,
    pub services: Vec<String>,
    /// `-a`: stopped containers too.
    pub all: bool,
}

/// One container, as compose's `ContainerSummary` (the fields berth can fill).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub names: Vec<String>,
    pub image: String,
    /// The command as Docker shows it: the process's arguments joined by spaces.
    pub command: String,
    pub project: String,
    pub service: String,
    /// Unix seconds.
    pub created: i64,
    /// `created`, `running`, `paused`, `exited`, ...
    pub state: String,
    /// Docker's status text.
    pub status: String,
    pub health: String,
    pub exit_code: i64,
    /// compose `api.PortPublishers`; `null` in JSON when there are none, as Go's nil slice.
    #[serde(serialize_with = "null_if_empty")]
    pub publishers: Vec<Publisher>,
    /// The PORTS column (docker/cli `DisplayablePorts` of the publishers), compose's JSON `Ports`.
    pub ports: String,
    /// `Up 3 seconds` style ages are relative to this.
    #[serde(skip)]
    pub created_at: Option<SystemTime>,
}

pub async fn run(
    opts: &PsOptions,
    warnings: &mut Vec<String>,
) -> Result<Vec<ContainerSummary>, AppError> {
    let name = super::images::project_name(&opts.project, warnings)?.to_lowercase();
    let client = opts.engine.connect().await?;
    let now = SystemTime::now();
    let lib = crate::state::lib_dir();
    let mut rows = Vec::new();
    for (c, o, task) in lifecycle::observe_containers(&client, &name).await? {
        // compose `ps`: one-off containers only with -a
        if o.is_oneoff() && !opts.all {
            continue;
        }
        let service = o.service().to_owned();
        if !opts.services.is_empty() && !opts.services.contains(&service) {
            continue;
        }
        if !opts.all && !o.state.is_up() {
            continue;
        }
        let started = o
            .label(STARTED_AT_LABEL)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(SystemTime::from);
        // Docker shows health only while the container runs (`State.String`).
        let health = match &o.state {
            ContainerState::Running => super::health::state(&lib, client.namespace(), &c.id),
            _ => None,
        };
        let publishers = publishers(&o, warnings);
        let (state, status, exit_code) = match &o.state {
            ContainerState::Created => ("created".into(), "Created".into(), 0),
            ContainerState::Running => (
                "running".into(),
                match &health {
                    Some(h) => format!(
                        "Up {} {}",
                        human_duration(since(now, started)),
                        h.ps_suffix()
                    ),
                    None => format!("Up {}", human_duration(since(now, started))),
                },
                0,
            ),
            ContainerState::Paused => (
                "paused".into(),
                format!("Up {} (Paused)", human_duration(since(now, started))),
                0,
            ),
            ContainerState::Restarting => ("restarting".into(), "Restarting".into(), 0),
            ContainerState::Exited { code } => {
                let at = task.as_ref().and_then(|t| t.exited_at);
                (
                    "exited".into(),
                    format!("Exited ({code}) {} ago", human_duration(since(now, at))),
                    *code,
                )
            }
            ContainerState::Other(s) => (s.clone(), s.clone(), 0),
        };
        rows.push(ContainerSummary {
            id: c.id.clone(),
            name: c.id.clone(),
            names: vec![c.id.clone()],
            image: display_image(&c.image),
            command: command(&c.spec_json),
            project: name.clone(),
            service,
            created: c
                .created_at
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64),
            state,
            status,
            health: health.map(|h| h.status).unwrap_or_default(),
            exit_code,
            ports: ports::displayable_ports(&publishers),
            publishers,
            created_at: c.created_at,
        });
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// The container's ports as the engine lists them: its bindings while it runs or is paused,
/// nothing otherwise (Docker drops a container's port bindings when it stops). A record berth
/// cannot read is a warning, not a failure of `ps`.
pub fn publishers(o: &ObservedContainer, warnings: &mut Vec<String>) -> Vec<Publisher> {
    if !matches!(o.state, ContainerState::Running | ContainerState::Paused) {
        return Vec::new();
    }
    let Some(value) = o.label(ports::PORTS_LABEL) else {
        return Vec::new();
    };
    match ports::decode(&o.name, value) {
        Ok(records) => ports::publishers(&records),
        Err(e) => {
            warnings.push(e.to_string());
            Vec::new()
        }
    }
}

fn null_if_empty<S: serde::Serializer>(v: &[Publisher], s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

fn since(now: SystemTime, t: Option<SystemTime>) -> std::time::Duration {
    t.and_then(|t| now.duration_since(t).ok())
        .unwrap_or_default()
}

/// The image as Docker shows a container's: the familiar name (`busybox:latest`,
/// `127.0.0.1:5055/x/y:latest`).
fn display_image(record: &str) -> String {
    match ImageRef::parse(record) {
        Ok(r) => match r.tag() {
            Some(t) => format!("{}:{t}", r.familiar_name()),
            None => r.familiar_name(),
        },
        Err(_) => record.to_owned(),
    }
}

/// The process's arguments, joined by spaces (Docker's `Path + " " + Args`). The init of
/// `init: true` is not part of it: Docker adds it only in the runtime spec.
fn command(spec_json: &[u8]) -> String {
    // only process.args is read: the rest of the spec (its seccomp profile is most of it) is
    // skipped, not built into a tree
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Spec {
        process: Process,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Process {
        args: Vec<String>,
    }
    let spec: Spec = serde_json::from_slice(spec_json).unwrap_or_default();
    let args: Vec<&str> = spec.process.args.iter().map(String::as_str).collect();
    let args = match args.as_slice() {
        [crate::spec::INIT_PATH_IN_CONTAINER, "--", rest @ ..] => rest,
        all => all,
    };
    args.join(" ")
}

/// go-units `HumanDuration`, which Docker's status and CREATED columns use.
pub fn human_duration(d: std::time::Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    let hours = ((d.as_secs_f64() / 3600.0) + 0.5) as u64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", d.as_secs() / 3600 / 24 / 365)
    }
}

/// Docker's `Ellipsis(s, 20)` then Go's `%q`, as compose's table shows COMMAND.
pub fn command_column(command: &str, trunc: bool) -> String {
    let chars: Vec<char> = command.chars().collect();
    let shown: String = if trunc && chars.len() > 20 {
        chars[..19].iter().collect::<String>() + "…"
    } else {
        command.to_owned()
    };
    let mut out = String::from("\"");
    for c in shown.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn docker_durations() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(60)), "About a minute");
        assert_eq!(human_duration(s(600)), "10 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
    }

    #[test]
    fn init_is_not_part_of_the_command() {
        let spec = br#"{"process":{"args":["/sbin/docker-init","--","sh","-c","x"]}}"#;
        assert_eq!(command(spec), "sh -c x");
        assert_eq!(command(br#"{"process":{"args":["sleep","1"]}}"#), "sleep 1");
    }

    #[test]
    fn command_is_cut_and_quoted() {
        assert_eq!(command_column("sleep 1000", true), "\"sleep 1000\"");
        assert_eq!(
            command_column("sh -c 'echo hello from berth'", true),
            "\"sh -c 'echo hello f…\""
        );
    }

    #[test]
    fn images_show_familiar_names() {
        assert_eq!(
            display_image("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert_eq!(
            display_image("127.0.0.1:5055/berth-test/multi:latest"),
            "127.0.0.1:5055/berth-test/multi:latest"
        );
    }
}
