//! Mounts: Docker's default mounts, the mounts app resolved (binds, volumes, tmpfs, secrets,
//! configs), `tmpfs:`, `/dev/shm`, the init binary and the per-container /etc files, merged as
//! moby `withMounts` does.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, MountBuilder};

use super::error::{Fail, Result, SpecError};
use crate::model::types::ServiceVolumeConfig;

/// Docker's default `/dev/shm` size (64 MiB).
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

/// What kind of mount app resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountKind {
    /// A host path (`type: bind`, secrets, configs, `volumes_from` binds).
    Bind,
    /// A named or anonymous volume: `source` is its host directory.
    Volume,
    /// A tmpfs (`type: tmpfs`); `source` is unused.
    Tmpfs,
}

/// Mount propagation (`bind.propagation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Private,
    Rprivate,
    Shared,
    Rshared,
    Slave,
    Rslave,
}

impl Propagation {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "private" => Self::Private,
            "rprivate" => Self::Rprivate,
            "shared" => Self::Shared,
            "rshared" => Self::Rshared,
            "slave" => Self::Slave,
            "rslave" => Self::Rslave,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Rprivate => "rprivate",
            Self::Shared => "shared",
            Self::Rshared => "rshared",
            Self::Slave => "slave",
            Self::Rslave => "rslave",
        }
    }
}

/// A mount whose source app has resolved. Build one from a service's `volumes:` entry with
/// [`ResolvedMount::from_service_volume`], or for a secret or config with
/// [`ResolvedMount::read_only_bind`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedMount {
    pub kind: MountKind,
    /// The host path (bind), the volume's host directory (volume); ignored for tmpfs.
    pub source: PathBuf,
    /// Absolute path in the container.
    pub target: String,
    pub read_only: bool,
    /// `None` is Docker's default, `rprivate`.
    pub propagation: Option<Propagation>,
    /// `bind.recursive: disabled`: `bind` instead of `rbind`.
    pub non_recursive: bool,
    /// `bind.recursive: readonly`: read-only all the way down (`rro`, kernel 5.12+).
    pub recursive_read_only: bool,
    /// tmpfs `size` in bytes.
    pub tmpfs_size: Option<i64>,
    /// tmpfs `mode`.
    pub tmpfs_mode: Option<u32>,
}

impl ResolvedMount {
    /// A read-only bind of `source` at `target`, as Docker Compose mounts file secrets and
    /// configs.
    pub fn read_only_bind(source: impl Into<PathBuf>, target: impl Into<String>) -> Self {
        ResolvedMount {
            kind: MountKind::Bind,
            source: source.into(),
            target: target.into(),
            read_only: true,
            propagation: None,
            non_recursive: false,
            recursive_read_only: false,
            tmpfs_size: None,
            tmpfs_mode: None,
        }
    }

    /// A service `volumes:` entry (long form) with the host path app resolved for it: the bind
    /// source, or the volume's directory (with `volume.subpath` already applied); ignored for
    /// tmpfs. `volume.nocopy`, `bind.create_host_path` and `bind.selinux` are app's business
    /// (the last is warned by [`crate::spec::build`]). `service` names the service in errors.
    pub fn from_service_volume(
        service: &str,
        v: &ServiceVolumeConfig,
        source: PathBuf,
    ) -> std::result::Result<Self, SpecError> {
        Self::from_volume(v, source).map_err(|f| f.for_service(service))
    }

    fn from_volume(v: &ServiceVolumeConfig, source: PathBuf) -> Result<Self> {
        let option = || format!("volumes {:?}", v.target);
        let kind = match v.r#type.as_str() {
            "bind" => MountKind::Bind,
            "volume" => MountKind::Volume,
            "tmpfs" => MountKind::Tmpfs,
            other => {
                return Err(Fail::new(
                    option(),
                    format!("mount type {other:?} is not supported"),
                ))
            }
        };
        let mut m = ResolvedMount::read_only_bind(source, v.target.clone());
        m.kind = kind;
        m.read_only = v.read_only;
        if let Some(b) = &v.bind {
            if !b.propagation.is_empty() {
                m.propagation = Some(Propagation::parse(&b.propagation).ok_or_else(|| {
                    Fail::new(
                        option(),
                        format!("invalid propagation mode: {}", b.propagation),
                    )
                })?);
            }
            match b.recursive.as_str() {
                "" | "enabled" | "writable" => {}
                "disabled" => m.non_recursive = true,
                "readonly" => m.recursive_read_only = true,
                other => {
                    return Err(Fail::new(
                        option(),
                        format!("invalid bind recursive option: {other:?}"),
                    ))
                }
            }
        }
        if let Some(t) = &v.tmpfs {
            if t.size.0 != 0 {
                m.tmpfs_size = Some(t.size.0);
            }
            if t.mode != 0 {
                m.tmpfs_mode = Some(t.mode);
            }
        }
        Ok(m)
    }
}

fn mount(dest: &str, typ: &str, source: impl AsRef<Path>, options: &[&str]) -> Result<Mount> {
    Ok(MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source.as_ref())
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()?)
}

/// Docker's default mounts (moby `oci.DefaultLinuxSpec`), `/dev/shm` without its size.
fn default_mounts() -> Result<Vec<Mount>> {
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777"],
        )?,
    ])
}

/// The mount flags that come in pairs (or alone): a later one replaces an earlier one of the
/// same group, as moby/sys `MergeTmpfsOptions` does by flag value.
fn flag_group(opt: &str) -> Option<&'static str> {
    Some(match opt {
        "ro" | "rw" => "rdonly",
        "suid" | "nosuid" => "nosuid",
        "dev" | "nodev" => "nodev",
        "exec" | "noexec" => "noexec",
        "sync" | "async" => "sync",
        "dirsync" => "dirsync",
        "remount" => "remount",
        "mand" | "nomand" => "mand",
        "atime" | "noatime" => "noatime",
        "diratime" | "nodiratime" => "nodiratime",
        "bind" => "bind",
        "rbind" => "rbind",
        "relatime" | "norelatime" => "relatime",
        "strictatime" | "nostrictatime" => "strictatime",
        "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
        | "runbindable" => "propagation",
        _ => return None,
    })
}

/// moby/sys `MergeTmpfsOptions`: the last of each flag group and of each `key=value` wins,
/// keeping the order of the winners; unknown options are an error.
fn merge_tmpfs_options(options: &[String]) -> std::result::Result<Vec<String>, String> {
    const DATA: &[&str] = &[
        "size",
        "mode",
        "uid",
        "gid",
        "nr_inodes",
        "nr_blocks",
        "mpol",
    ];
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for o in options.iter().rev() {
        if o == "defaults" || o.is_empty() {
            continue;
        }
        let key = match flag_group(o) {
            Some(g) => g.to_string(),
            None => match o.split_once('=') {
                Some((k, _)) if DATA.contains(&k) => format!("={k}"),
                _ => return Err(format!("invalid tmpfs option {o:?}")),
            },
        };
        if seen.insert(key) {
            out.push(o.clone());
        }
    }
    out.reverse();
    Ok(out)
}

fn tmpfs_mount(target: &str, data: &[String], option: &str) -> Result<Mount> {
    let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    opts.extend(data.iter().cloned());
    let merged = merge_tmpfs_options(&opts).map_err(|e| Fail::new(option, e))?;
    Ok(MountBuilder::default()
        .destination(target)
        .typ("tmpfs")
        .source("tmpfs")
        .options(merged)
        .build()?)
}

/// Docker's tmpfs `size=`: the largest of g/m/k that divides the size evenly.
fn tmpfs_size_option(size: i64) -> String {
    for (suffix, div) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if size % div == 0 {
            return format!("size={}{suffix}", size / div);
        }
    }
    format!("size={size}")
}

fn check_target(target: &str, option: &str) -> Result<()> {
    if target.starts_with('/') {
        Ok(())
    } else {
        Err(Fail::new(
            option,
            format!("invalid mount path: '{target}' mount path must be absolute"),
        ))
    }
}

fn bind_mount(m: &ResolvedMount) -> Result<Mount> {
    let mut opts = vec![if m.non_recursive { "bind" } else { "rbind" }.to_string()];
    if m.read_only || m.recursive_read_only {
        opts.push(if m.recursive_read_only { "rro" } else { "ro" }.to_string());
    }
    opts.push(
        m.propagation
            .unwrap_or(Propagation::Rprivate)
            .as_str()
            .to_string(),
    );
    Ok(MountBuilder::default()
        .destination(m.target.as_str())
        .typ("bind")
        .source(m.source.as_path())
        .options(opts)
        .build()?)
}

/// What the mount assembly needs besides the resolved mounts.
pub(crate) struct MountPlan<'a> {
    pub resolved: &'a [ResolvedMount],
    /// `tmpfs:` entries, `path[:options]`.
    pub tmpfs: &'a [String],
    pub shm_size: i64,
    /// `ipc: none`: no /dev/shm at all.
    pub ipc_none: bool,
    /// A host directory to bind at /dev/shm (shared IPC).
    pub shm_source: Option<&'a Path>,
    pub hosts: Option<&'a Path>,
    pub hostname: Option<&'a Path>,
    pub resolv_conf: Option<&'a Path>,
    pub init: Option<&'a Path>,
    pub read_only_rootfs: bool,
    pub privileged: bool,
    pub writable_cgroups: bool,
}

fn depth(dest: &str) -> usize {
    dest.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .count()
}

/// The container's mounts and the rootfs propagation a shared or slave mount needs.
pub(crate) fn mounts(p: &MountPlan<'_>) -> Result<(Vec<Mount>, Option<String>)> {
    let mut user: Vec<Mount> = Vec::new();
    let mut rootfs_propagation: Option<String> = None;
    for m in p.resolved {
        let option = format!("volumes {:?}", m.target);
        check_target(&m.target, &option)?;
        match m.kind {
            MountKind::Tmpfs => {
                let mut data = Vec::new();
                if let Some(s) = m.tmpfs_size {
                    data.push(tmpfs_size_option(s));
                }
                if let Some(mode) = m.tmpfs_mode {
                    data.push(format!("mode={mode:o}"));
                }
                if m.read_only {
                    data.push("ro".into());
                }
                user.push(tmpfs_mount(&m.target, &data, &option)?);
            }
            MountKind::Bind | MountKind::Volume => {
                match m.propagation {
                    Some(Propagation::Shared | Propagation::Rshared) => {
                        rootfs_propagation = Some("shared".into())
                    }
                    Some(Propagation::Slave | Propagation::Rslave)
                        if rootfs_propagation.is_none() =>
                    {
                        rootfs_propagation = Some("rslave".into())
                    }
                    _ => {}
                }
                user.push(bind_mount(m)?);
            }
        }
    }
    for t in p.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t, ""));
        let option = format!("tmpfs {t:?}");
        check_target(path, &option)?;
        let data: Vec<String> = opts
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        user.push(tmpfs_mount(path, &data, &option)?);
    }
    let has = |user: &[Mount], d: &str| user.iter().any(|m| m.destination() == Path::new(d));
    if let (Some(src), false) = (p.shm_source, p.ipc_none) {
        if !has(&user, "/dev/shm") {
            user.push(mount("/dev/shm", "bind", src, &["rbind", "rprivate"])?);
        }
    }
    for (dest, src) in [
        ("/etc/resolv.conf", p.resolv_conf),
        ("/etc/hostname", p.hostname),
        ("/etc/hosts", p.hosts),
    ] {
        if let Some(src) = src {
            if !has(&user, dest) {
                let opts: &[&str] = if p.read_only_rootfs {
                    &["rbind", "ro", "rprivate"]
                } else {
                    &["rbind", "rprivate"]
                };
                user.push(mount(dest, "bind", src, opts)?);
            }
        }
    }
    // parents before children; a stable sort keeps the given order otherwise
    user.sort_by_key(|m| depth(&m.destination().to_string_lossy()));

    let user_dev = has(&user, "/dev");
    let mut out = Vec::new();
    for mut m in default_mounts()? {
        let dest = m.destination().to_string_lossy().to_string();
        if has(&user, &dest) || (user_dev && dest.starts_with("/dev/")) {
            continue;
        }
        if dest == "/dev/shm" {
            if p.ipc_none {
                continue;
            }
            let mut o = m.options().clone().unwrap_or_default();
            o.push(format!("size={}", p.shm_size));
            m.set_options(Some(o));
        }
        // as moby: the read-only rootfs adds `ro` first, privileged and writable cgroups then
        // clear it
        if p.read_only_rootfs
            && !matches!(
                dest.as_str(),
                "/proc" | "/dev/pts" | "/dev/shm" | "/dev/mqueue" | "/dev"
            )
        {
            let mut o = m.options().clone().unwrap_or_default();
            if !o.iter().any(|x| x == "ro") {
                o.push("ro".into());
                m.set_options(Some(o));
            }
        }
        let clear_ro = (dest == "/sys" && p.privileged)
            || (m.typ().as_deref() == Some("cgroup") && p.writable_cgroups);
        if clear_ro {
            let o = m
                .options()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|o| o != "ro")
                .collect();
            m.set_options(Some(o));
        }
        out.push(m);
    }
    if let Some(init) = p.init {
        out.push(mount(
            super::process::INIT_PATH_IN_CONTAINER,
            "bind",
            init,
            &["bind", "ro"],
        )?);
    }
    out.extend(user);
    Ok((out, rootfs_propagation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{ServiceVolumeBind, ServiceVolumeTmpfs, UnitBytes};

    fn plan<'a>(resolved: &'a [ResolvedMount], tmpfs: &'a [String]) -> MountPlan<'a> {
        MountPlan {
            resolved,
            tmpfs,
            shm_size: DEFAULT_SHM_SIZE,
            ipc_none: false,
            shm_source: None,
            hosts: None,
            hostname: None,
            resolv_conf: None,
            init: None,
            read_only_rootfs: false,
            privileged: false,
            writable_cgroups: false,
        }
    }

    fn find<'a>(ms: &'a [Mount], d: &str) -> Option<&'a Mount> {
        ms.iter().find(|m| m.destination() == Path::new(d))
    }

    fn opts(m: &Mount) -> Vec<String> {
        m.options().clone().unwrap_or_default()
    }

    #[test]
    fn defaults_with_shm_size() {
        let (ms, prop) = mounts(&plan(&[], &[])).unwrap();
        let dests: Vec<_> = ms.iter().map(|m| m.destination().clone()).collect();
        assert_eq!(dests.len(), 7);
        assert_eq!(
            opts(find(&ms, "/dev/shm").unwrap()),
            vec!["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
        );
        assert!(prop.is_none());
    }

    #[test]
    fn volume_options_and_order() {
        let v = ServiceVolumeConfig {
            r#type: "bind".into(),
            source: "./data".into(),
            target: "/data/sub".into(),
            read_only: true,
            bind: Some(ServiceVolumeBind {
                propagation: "rshared".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let a = ResolvedMount::from_volume(&v, "/host/data".into()).unwrap();
        let b = ResolvedMount {
            kind: MountKind::Volume,
            target: "/data".into(),
            ..ResolvedMount::read_only_bind("/var/lib/berth/volumes/x", "/data")
        };
        let mut b = b;
        b.read_only = false;
        let (ms, prop) = mounts(&plan(&[a, b], &[])).unwrap();
        let n = ms.len();
        assert_eq!(ms[n - 2].destination(), Path::new("/data"));
        assert_eq!(opts(&ms[n - 2]), vec!["rbind", "rprivate"]);
        assert_eq!(ms[n - 1].destination(), Path::new("/data/sub"));
        assert_eq!(opts(&ms[n - 1]), vec!["rbind", "ro", "rshared"]);
        assert_eq!(prop.as_deref(), Some("shared"));
    }

    #[test]
    fn tmpfs_forms() {
        let v = ServiceVolumeConfig {
            r#type: "tmpfs".into(),
            target: "/cache".into(),
            tmpfs: Some(ServiceVolumeTmpfs {
                size: UnitBytes(64 << 20),
                mode: 0o1777,
                ..Default::default()
            }),
            ..Default::default()
        };
        let a = ResolvedMount::from_volume(&v, PathBuf::new()).unwrap();
        let short = vec!["/run:exec,size=1m".to_string(), "/tmp".to_string()];
        let (ms, _) = mounts(&plan(&[a], &short)).unwrap();
        assert_eq!(
            opts(find(&ms, "/cache").unwrap()),
            vec![
                "noexec",
                "nosuid",
                "nodev",
                "rprivate",
                "size=64m",
                "mode=1777"
            ]
        );
        assert_eq!(
            opts(find(&ms, "/run").unwrap()),
            vec!["nosuid", "nodev", "rprivate", "exec", "size=1m"]
        );
        assert_eq!(find(&ms, "/tmp").unwrap().typ().as_deref(), Some("tmpfs"));
        let bad = vec!["/x:bogus".to_string()];
        assert!(mounts(&plan(&[], &bad)).is_err());
        let rel = vec!["x".to_string()];
        assert!(mounts(&plan(&[], &rel)).is_err());
    }

    #[test]
    fn read_only_rootfs_privileged_and_etc_files() {
        let mut p = plan(&[], &[]);
        p.read_only_rootfs = true;
        p.privileged = true;
        p.writable_cgroups = true;
        p.hosts = Some(Path::new("/run/berth/c/hosts"));
        p.init = Some(Path::new("/usr/bin/tini"));
        let (ms, _) = mounts(&p).unwrap();
        // the read-only rootfs adds `ro`, then privileged clears it on /sys, as Docker
        assert!(!opts(find(&ms, "/sys").unwrap()).contains(&"ro".to_string()));
        assert_eq!(
            opts(find(&ms, "/sys/fs/cgroup").unwrap()),
            vec!["nosuid", "noexec", "nodev"]
        );
        assert!(opts(find(&ms, "/proc").unwrap()) == vec!["nosuid", "noexec", "nodev"]);
        assert!(!opts(find(&ms, "/dev/mqueue").unwrap()).contains(&"ro".to_string()));
        assert_eq!(
            opts(find(&ms, "/etc/hosts").unwrap()),
            vec!["rbind", "ro", "rprivate"]
        );
        assert_eq!(
            opts(find(&ms, "/sbin/docker-init").unwrap()),
            vec!["bind", "ro"]
        );
    }

    #[test]
    fn user_mounts_replace_defaults() {
        let dev = ResolvedMount::read_only_bind("/dev", "/dev");
        let hosts = ResolvedMount::read_only_bind("/x/hosts", "/etc/hosts");
        let mut p = plan(std::slice::from_ref(&dev), &[]);
        let binding = [dev.clone(), hosts];
        p.resolved = &binding;
        p.hosts = Some(Path::new("/run/berth/c/hosts"));
        p.ipc_none = true;
        let (ms, _) = mounts(&p).unwrap();
        assert!(!ms
            .iter()
            .any(|m| m.destination().starts_with("/dev/") && m.typ().as_deref() != Some("bind")));
        let hosts: Vec<_> = ms
            .iter()
            .filter(|m| m.destination() == Path::new("/etc/hosts"))
            .collect();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].source().as_deref(), Some(Path::new("/x/hosts")));
    }

    #[test]
    fn shared_ipc_binds_shm() {
        let mut p = plan(&[], &[]);
        p.shm_source = Some(Path::new("/dev/shm"));
        let (ms, _) = mounts(&p).unwrap();
        let shm = find(&ms, "/dev/shm").unwrap();
        assert_eq!(shm.typ().as_deref(), Some("bind"));
        assert_eq!(opts(shm), vec!["rbind", "rprivate"]);
    }

    #[test]
    fn bad_volume_options() {
        let mut v = ServiceVolumeConfig {
            r#type: "npipe".into(),
            target: "/x".into(),
            ..Default::default()
        };
        assert!(ResolvedMount::from_volume(&v, "/s".into()).is_err());
        v.r#type = "bind".into();
        v.bind = Some(ServiceVolumeBind {
            propagation: "weird".into(),
            ..Default::default()
        });
        assert!(ResolvedMount::from_volume(&v, "/s".into()).is_err());
    }
}
