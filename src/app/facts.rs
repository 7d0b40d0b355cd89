//! What a container's spec needs from the host beyond the image: the init binary for
//! `init: true`, device nodes for `devices:` and `privileged`, the namespaces of the container
//! named by `ipc:`/`pid:` `service:x|container:x`, and the host's /dev/shm for `ipc: host`. Read here, handed to
//! [`crate::spec`] as plain data.

use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::AppError;
use crate::containerd::{Client, TaskStatus};
use crate::model::types::ServiceConfig;
use crate::plan::labels;
use crate::spec::{DeviceKind, HostDevice};

/// Where an init for `init: true` is looked for, in order: berth's own place, Debian's
/// `tini` package (the static build: it runs in any image), Docker's `docker-init`.
const INIT_BINARIES: &[&str] = &[
    "/usr/libexec/berth/tini",
    "/usr/bin/tini-static",
    "/usr/libexec/docker/docker-init",
    "/usr/bin/docker-init",
];

/// Directories under /dev that hold no devices to pass on (runc's `HostDevices` skips them).
const SKIPPED_DEV_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

#[derive(Debug, Default)]
pub struct HostFacts {
    pub init_binary: Option<PathBuf>,
    pub devices: HashMap<String, Vec<HostDevice>>,
    pub host_devices: Vec<HostDevice>,
    pub ipc_ns: Option<PathBuf>,
    pub pid_ns: Option<PathBuf>,
    /// The network namespace of `network_mode: service:x|container:x`.
    pub netns: Option<PathBuf>,
    pub shm_source: Option<PathBuf>,
}

/// The host facts service `s` of `project` needs.
pub async fn host_facts(
    client: &Client,
    project: &str,
    s: &ServiceConfig,
) -> Result<HostFacts, AppError> {
    let fail = |what: String| AppError::Other(format!("service {:?}: {what}", s.name));
    let mut f = HostFacts::default();
    if s.init == Some(true) {
        let found = INIT_BINARIES.iter().map(Path::new).find(|p| p.is_file());
        f.init_binary = Some(found.map(Path::to_path_buf).ok_or_else(|| {
            fail(format!(
                "init: no init binary on this host (looked for {}); install Debian's tini package",
                INIT_BINARIES.join(", ")
            ))
        })?);
    }
    for d in s.devices.iter() {
        let found = devices_at(Path::new(&d.source)).map_err(|e| {
            fail(format!(
                "error gathering device information while adding custom device {:?}: {e}",
                d.source
            ))
        })?;
        if found.is_empty() {
            return Err(fail(format!(
                "error gathering device information while adding custom device {:?}: not a device node",
                d.source
            )));
        }
        f.devices.insert(d.source.clone(), found);
    }
    if s.privileged {
        f.host_devices = devices_at(Path::new("/dev"))
            .map_err(|e| fail(format!("privileged: reading /dev: {e}")))?;
    }
    if let Some(target) = joined(&s.ipc) {
        let pid = running_pid(client, project, target, "IPC").await?;
        f.ipc_ns = Some(PathBuf::from(format!("/proc/{pid}/ns/ipc")));
        // The other container's /dev/shm lives in its own mount namespace and cannot be bound
        // from there; Docker mounts a shareable container's shm on the host instead. Until
        // berth does, a joined container shares SysV IPC but has its own /dev/shm.
    } else if s.ipc == "host" {
        f.shm_source = Some(PathBuf::from("/dev/shm"));
    }
    if let Some(target) = joined(crate::spec::network_mode(s)) {
        let pid = running_pid(client, project, target, "network").await?;
        f.netns = Some(PathBuf::from(format!("/proc/{pid}/ns/net")));
    }
    if let Some(target) = joined(&s.pid) {
        let pid = running_pid(client, project, target, "PID").await?;
        f.pid_ns = Some(PathBuf::from(format!("/proc/{pid}/ns/pid")));
    }
    Ok(f)
}

/// What `service:x` / `container:x` names.
enum Joined<'a> {
    Service(&'a str),
    Container(&'a str),
}

fn joined(mode: &str) -> Option<Joined<'_>> {
    if let Some(s) = mode.strip_prefix("service:") {
        Some(Joined::Service(s))
    } else {
        mode.strip_prefix("container:").map(Joined::Container)
    }
}

/// The host pid of the running task of the container `target` names; Docker's error when it
/// does not run.
async fn running_pid(
    client: &Client,
    project: &str,
    target: Joined<'_>,
    what: &str,
) -> Result<u32, AppError> {
    let id = match target {
        Joined::Container(c) => c.to_owned(),
        Joined::Service(service) => {
            let list = client
                .container_list(&[format!(
                    "labels.\"{}\"=={project},labels.\"{}\"=={service}",
                    labels::PROJECT,
                    labels::SERVICE
                )])
                .await?;
            let mut ids: Vec<String> = list
                .into_iter()
                .filter(|c| c.labels.get(labels::ONEOFF).map(String::as_str) != Some("True"))
                .map(|c| c.id)
                .collect();
            ids.sort();
            ids.into_iter().next().ok_or_else(|| {
                AppError::Other(format!(
                    "no containers for service {service:?} to join its {what} namespace"
                ))
            })?
        }
    };
    match client.task_get(&id).await? {
        Some(t) if t.status == TaskStatus::Running && t.pid > 0 => Ok(t.pid),
        _ => Err(AppError::Other(format!(
            "cannot join {what} of a non running container: {id}"
        ))),
    }
}

/// The device nodes at `path`: the node itself, or every node below a directory (symlinks
/// not followed).
fn devices_at(path: &Path) -> std::io::Result<Vec<HostDevice>> {
    let meta = std::fs::symlink_metadata(path)?;
    let mut out = Vec::new();
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)?.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            let child = e.path();
            let Ok(m) = std::fs::symlink_metadata(&child) else {
                continue;
            };
            if m.is_dir() {
                if SKIPPED_DEV_DIRS.iter().any(|s| name == *s) {
                    continue;
                }
                out.extend(devices_at(&child).unwrap_or_default());
            } else if child != Path::new("/dev/console") {
                out.extend(device(&child, &m));
            }
        }
    } else {
        out.extend(device(path, &meta));
    }
    Ok(out)
}

fn device(path: &Path, m: &std::fs::Metadata) -> Option<HostDevice> {
    let ft = m.file_type();
    let kind = if ft.is_char_device() {
        DeviceKind::Char
    } else if ft.is_block_device() {
        DeviceKind::Block
    } else {
        return None;
    };
    let (major, minor) = split_dev(m.rdev());
    Some(HostDevice {
        path: path.to_path_buf(),
        kind,
        major,
        minor,
        file_mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
    })
}

/// glibc's `major()`/`minor()` of a `dev_t`.
fn split_dev(rdev: u64) -> (i64, i64) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as i64, minor as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_numbers_split_as_glibc_does() {
        // /dev/null is 1:3, /dev/ttyS0 4:64, and a minor wider than 8 bits
        assert_eq!(split_dev(0x0103), (1, 3));
        assert_eq!(split_dev(0x0440), (4, 64));
        assert_eq!(split_dev((259 << 8) | (256 << 20)), (259, 65536));
    }

    #[test]
    fn null_is_a_char_device_and_dirs_are_walked() {
        let null = devices_at(Path::new("/dev/null")).unwrap();
        assert_eq!(null.len(), 1);
        assert_eq!(
            (null[0].kind, null[0].major, null[0].minor),
            (DeviceKind::Char, 1, 3)
        );
        let all = devices_at(Path::new("/dev")).unwrap();
        assert!(all.iter().any(|d| d.path == Path::new("/dev/null")));
        assert!(!all.iter().any(|d| d.path.starts_with("/dev/pts")));
        assert!(devices_at(Path::new("/etc/hostname")).unwrap().is_empty());
        assert!(devices_at(Path::new("/dev/no-such-device")).is_err());
    }
}
