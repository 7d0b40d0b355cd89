//! One Compose service, its image's config and the facts app resolved from the world → an OCI
//! runtime spec, with a warning for every key berth does not implement. Pure: no I/O, and it
//! must not import app, containerd, network or image code; whatever it needs from the world comes
//! in [`Facts`].
//!
//! The reference is what the Docker daemon builds for the container Docker Compose creates
//! (moby `daemon/oci_linux.go`, `oci/defaults.go`, `oci/caps`), with Docker's default seccomp
//! filter ([`seccomp`]). Differences: custom `seccomp=<file>` profiles are not applied (warned),
//! no AppArmor `docker-default` profile (a named `apparmor=` profile is applied),
//! no time namespace, no default rlimits (they are inherited from containerd's shim, as Docker's
//! are from dockerd), and ro binds are `ro` rather than recursively read-only unless asked
//! (`bind.recursive: readonly`). Labels are not put in the spec: they belong on the containerd
//! container, as Docker keeps them on its container; `annotations:` go into the spec, as Docker
//! does. The key-by-key table is in [`ignored`].

mod error;
pub mod etc;
pub mod exec;
pub mod ignored;
mod linux;
mod mounts;
mod process;
mod seccomp;
mod security;
mod stop;
mod user;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    HookBuilder, HooksBuilder, LinuxBuilder, LinuxCapabilitiesBuilder, ProcessBuilder, RootBuilder,
    Spec, SpecBuilder, UserBuilder,
};

pub use error::SpecError;
pub use linux::network_mode;
pub use mounts::{MountKind, Propagation, ResolvedMount, DEFAULT_SHM_SIZE};
pub use process::{DEFAULT_PATH_ENV, INIT_PATH_IN_CONTAINER};
pub use security::{ALL_CAPABILITIES, DEFAULT_CAPABILITIES};
pub use stop::{parse_signal, stop_settings, StopSettings, DEFAULT_STOP_GRACE};
pub use user::{resolve_user, ResolvedUser};
pub use validate::validate;

use crate::model::types::ServiceConfig;
use error::Fail;

/// The OCI runtime spec version berth writes.
pub const OCI_VERSION: &str = "1.1.0";

/// Internal warnings: (key, message), before the service name is attached.
pub(crate) type Notes = Vec<(String, String)>;

/// A service key berth accepted but does not (fully) apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub service: String,
    /// The key, as in the Compose file (`blkio_config`, `security_opt "label=disable"`).
    pub key: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "service {:?}: {} {}",
            self.service, self.key, self.message
        )
    }
}

/// The cgroup hierarchy of the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    #[default]
    V2,
}

/// Character or block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
}

/// A device node on the host, as app found it with stat(2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostDevice {
    /// Its host path.
    pub path: PathBuf,
    pub kind: DeviceKind,
    pub major: i64,
    pub minor: i64,
    /// Permission bits (`st_mode & 0o7777`).
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// What app resolved from the world for one container of the service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The hostname when the service sets none (Docker uses the short container id). With
    /// `network_mode: host` Docker uses the host's name.
    pub hostname: String,
    /// `root.path`; empty means `rootfs` (the bundle-relative path containerd uses).
    pub rootfs: PathBuf,
    /// The image's /etc/passwd and /etc/group, `None` when absent.
    pub passwd: Option<String>,
    pub group: Option<String>,
    /// The per-container /etc files to bind in (`None`: not mounted).
    pub hosts_file: Option<PathBuf>,
    pub hostname_file: Option<PathBuf>,
    pub resolv_conf_file: Option<PathBuf>,
    /// Volumes, binds, tmpfs, secrets, configs, `volumes_from`, image `VOLUME`s.
    pub mounts: Vec<ResolvedMount>,
    /// The network namespace: the one app made for bridge networks, or the one of the container
    /// named by `network_mode: service:x|container:x` (required then). Unused for `host`.
    pub netns: Option<PathBuf>,
    /// The IPC and PID namespaces to join for `ipc`/`pid: service:x|container:x`.
    pub ipc_ns: Option<PathBuf>,
    pub pid_ns: Option<PathBuf>,
    /// A directory to bind at /dev/shm: the host's for `ipc: host`, the other container's when
    /// joining its IPC namespace. `None`: a private tmpfs of `shm_size`.
    pub shm_source: Option<PathBuf>,
    pub cgroup_version: CgroupVersion,
    /// `linux.cgroupsPath` (from `cgroup_parent` and the cgroup driver).
    pub cgroups_path: Option<String>,
    /// The host's init binary (docker-init/tini), required when `init: true`.
    pub init_binary: Option<PathBuf>,
    /// Host devices by the `devices:` source path as written in the service (a directory maps
    /// to every device below it).
    pub devices: HashMap<String, Vec<HostDevice>>,
    /// Every host device, for `privileged`.
    pub host_devices: Vec<HostDevice>,
    /// `KEY=VALUE` entries placed after the defaults and before the service's (Docker's place
    /// for link variables).
    pub extra_env: Vec<String>,
    /// An OCI `createRuntime` hook (path, argv) that joins the new network namespace to its
    /// networks each time a task is made: by berth's create, or by containerd's restart
    /// monitor with no berth running. `None`: no hook.
    pub network_hook: Option<(PathBuf, Vec<String>)>,
}

/// The translation of one service.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    pub spec: Spec,
    pub warnings: Vec<Warning>,
    /// `stdin_open`: the task needs a stdin pipe (the spec cannot say so).
    pub stdin_open: bool,
    /// The resolved user's home directory, if the image's passwd named one.
    pub home: Option<String>,
}

/// Translates `service` for one container. The spec is checked by [`validate`] before it is
/// returned.
pub fn build(
    service: &ServiceConfig,
    image: &ImageConfiguration,
    facts: &Facts,
) -> Result<Built, SpecError> {
    let mut notes = Notes::new();
    let (spec, home) =
        build_spec(service, image, facts, &mut notes).map_err(|f| f.for_service(&service.name))?;
    validate(&spec)?;
    Ok(Built {
        spec,
        warnings: notes
            .into_iter()
            .map(|(key, message)| Warning {
                service: service.name.clone(),
                key,
                message,
            })
            .collect(),
        stdin_open: service.stdin_open,
        home,
    })
}

fn effective_user(service: &ServiceConfig, image: &ImageConfiguration) -> String {
    if service.user.is_empty() {
        image
            .config()
            .as_ref()
            .and_then(|c| c.user().clone())
            .unwrap_or_default()
    } else {
        service.user.clone()
    }
}

fn build_spec(
    service: &ServiceConfig,
    image: &ImageConfiguration,
    facts: &Facts,
    notes: &mut Notes,
) -> error::Result<(Spec, Option<String>)> {
    let img = image.config().as_ref();
    ignored::unsupported(service, notes);

    // security options first: they change capabilities, paths and mounts
    let sec = security::security_opts(&service.security_opt)?;
    let privileged = service.privileged;
    for l in &sec.labels {
        notes.push((
            format!("security_opt \"label={l}\""),
            "SELinux labels are not supported yet; ignored".into(),
        ));
    }
    if let Some(p) = &sec.seccomp_profile {
        notes.push((
            "security_opt \"seccomp\"".into(),
            format!("custom seccomp profiles ({p}) are not applied yet; the container runs without a seccomp filter"),
        ));
    }
    let default_seccomp = sec.seccomp_profile.is_none() && !sec.seccomp_unconfined && !privileged;

    // process
    let mut args = process::args(service, img)?;
    let (namespaces, modes) = linux::namespaces(service, facts)?;
    let init = service.init == Some(true) && modes.pid_private;
    let init_binary = if init {
        let path = facts
            .init_binary
            .as_deref()
            .ok_or_else(|| Fail::new("init", "no init binary was found on the host"))?;
        args = process::with_init(args);
        Some(path)
    } else {
        None
    };
    let hostname = if service.hostname.is_empty() {
        facts.hostname.clone()
    } else {
        service.hostname.clone()
    };
    let env = process::env(service, img, &hostname, &facts.extra_env);
    let cwd = process::cwd(service, img)?;
    let user_spec = effective_user(service, image);
    let user = resolve_user(
        &user_spec,
        &service.group_add,
        facts.passwd.as_deref(),
        facts.group.as_deref(),
    )
    .map_err(|m| Fail::new(format!("user {user_spec:?}"), m))?;
    let cap_names = security::capability_names(service)?;
    let caps = security::to_capabilities(&cap_names)?;
    // oci_spec's builders start from its own defaults (youki's): every field berth leaves
    // alone is cleared after building.
    let mut capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .permitted(caps.clone())
        .effective(caps)
        .build()?;
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);

    let pb = ProcessBuilder::default()
        .terminal(service.tty)
        .args(args)
        .env(env)
        .cwd(cwd)
        .user(
            UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids.clone())
                .build()?,
        )
        .capabilities(capabilities);
    let mut process = pb.build()?;
    let rlimits = linux::rlimits(service)?;
    process.set_rlimits((!rlimits.is_empty()).then_some(rlimits));
    process.set_no_new_privileges(sec.no_new_privileges.then_some(true));
    process.set_oom_score_adj(None);
    process.set_apparmor_profile(None);
    process.set_selinux_label(None);
    if service.oom_score_adj != 0 {
        if !(-1000..=1000).contains(&service.oom_score_adj) {
            return Err(Fail::new(
                "oom_score_adj",
                format!(
                    "Invalid value {}, range for oom score adj is [-1000, 1000]",
                    service.oom_score_adj
                ),
            ));
        }
        // the range check above makes the conversion exact
        process.set_oom_score_adj(Some(service.oom_score_adj as i32));
    }
    if !privileged {
        if let Some(a) = sec.apparmor.as_ref().filter(|a| *a != "unconfined") {
            process.set_apparmor_profile(Some(a.clone()));
        }
    }

    // mounts
    let shm_size = if service.shm_size.0 > 0 {
        service.shm_size.0
    } else {
        DEFAULT_SHM_SIZE
    };
    let (mounts, rootfs_propagation) = mounts::mounts(&mounts::MountPlan {
        resolved: &facts.mounts,
        tmpfs: &service.tmpfs,
        shm_size,
        ipc_none: modes.ipc_none,
        shm_source: facts.shm_source.as_deref(),
        hosts: facts.hosts_file.as_deref(),
        hostname: facts.hostname_file.as_deref(),
        resolv_conf: facts.resolv_conf_file.as_deref(),
        init: init_binary,
        read_only_rootfs: service.read_only,
        privileged,
        writable_cgroups: sec.writable_cgroups.unwrap_or(privileged),
    })?;

    // linux
    let (devices, device_rules) = linux::devices(service, facts, notes)?;
    let mut resources = linux::resources(service, facts.cgroup_version, notes)?;
    resources.set_devices(Some(device_rules));
    let mut lb = LinuxBuilder::default()
        .namespaces(namespaces)
        .resources(resources)
        .devices(devices)
        .sysctl(linux::sysctls(service, &modes)?);
    if let Some(p) = &facts.cgroups_path {
        lb = lb.cgroups_path(PathBuf::from(p));
    }
    if let Some(p) = rootfs_propagation {
        lb = lb.rootfs_propagation(p);
    }
    let mut linux = lb.build()?;
    let confined = !privileged && !sec.systempaths_unconfined;
    let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    linux.set_masked_paths(confined.then(|| list(MASKED_PATHS)));
    linux.set_readonly_paths(confined.then(|| list(READONLY_PATHS)));
    if default_seccomp {
        linux.set_seccomp(Some(seccomp::default_profile(
            &cap_names,
            std::env::consts::ARCH,
        )?));
    }

    let rootfs = if facts.rootfs.as_os_str().is_empty() {
        PathBuf::from("rootfs")
    } else {
        facts.rootfs.clone()
    };
    let mut spec = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(
            RootBuilder::default()
                .path(rootfs)
                .readonly(service.read_only)
                .build()?,
        )
        .process(process)
        .mounts(mounts)
        .linux(linux)
        .build()?;
    spec.set_hostname((!modes.uts_host && !hostname.is_empty()).then_some(hostname));
    spec.set_domainname(None);
    spec.set_hooks(match &facts.network_hook {
        Some((path, args)) => Some(
            HooksBuilder::default()
                .create_runtime(vec![HookBuilder::default()
                    .path(path.clone())
                    .args(args.clone())
                    .timeout(NETWORK_HOOK_TIMEOUT_SECS)
                    .build()?])
                .build()?,
        ),
        None => None,
    });
    spec.set_annotations((!service.annotations.is_empty()).then(|| {
        service
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<HashMap<_, _>>()
    }));
    Ok((spec, user.home))
}

/// How long runc lets the network hook run before it fails the task's creation.
pub const NETWORK_HOOK_TIMEOUT_SECS: i64 = 30;

/// Docker's masked paths (moby `oci/defaults.go`; the per-CPU thermal_throttle entries it adds
/// when they exist on the host are left out).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
