//! Storage for one container: a service's `volumes:`, its image's `VOLUME`s, `volumes_from`,
//! secrets and configs, resolved into the [`ResolvedMount`]s spec/ turns into OCI mounts.
//!
//! Two steps. [`wanted`] is pure: from the project and the image's volume list it says what each
//! mount needs (a host path, a named or anonymous volume, a tmpfs, a file to write). [`realize`]
//! then touches the host: it makes missing bind sources (short syntax only), anonymous volumes,
//! and the per-container copies of secrets and configs, and checks that external volumes exist.
//! [`copy_up`] fills empty volumes from the image, as Docker does on first use.
//!
//! What a container mounted is recorded on it, in the [`MOUNTS_LABEL`] label (JSON, see
//! [`Recorded`]), so `down -v` finds its anonymous volumes, a recreate re-attaches them, and
//! `volumes_from` can repeat another container's mounts.
//!
//! Copy-up reads the image's layers straight from the container's unmounted snapshot (the
//! overlay lowerdirs), as `read_image_file` in lifecycle.rs does, applying whiteouts (character
//! devices 0/0) and opaque directories (the `trusted.overlay.opaque` xattr) itself. Mounting
//! the snapshot read-only in a temporary directory would have let the kernel do the merging,
//! but a mount left behind by a killed berth stays until reboot, and needs a mount namespace
//! dance to avoid; reading the layers leaves nothing behind however berth dies.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::containerd::Mount;
use crate::model::types::{Project, ServiceConfig, ServiceVolumeConfig, ServiceVolumeTmpfs};
use crate::plan::labels;
use crate::spec::ResolvedMount;
use crate::state::volumes::{self, Volume};

/// berth's own container label: the mounts a container was made with (JSON list of
/// [`Recorded`]). Docker keeps this in its container record; containerd has no such field.
pub const MOUNTS_LABEL: &str = "berth.mounts";

/// The label Docker puts on the volumes it makes for a container (anonymous volumes).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// compose's label naming a volume's key in the project's `volumes:`.
pub const VOLUME_LABEL: &str = "com.docker.compose.volume";

/// Default mode of a secret or config file in the container (compose's).
const FILE_MODE: u32 = 0o444;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// compose's text.
    #[error("external volume {0:?} not found")]
    ExternalMissing(String),
    /// Docker's text for a long-syntax bind whose source is missing.
    #[error("service {service:?}: invalid mount config for type \"bind\": bind source path does not exist: {}", path.display())]
    BindMissing { service: String, path: PathBuf },
    #[error("service {service:?}: {option}: {message}")]
    Option {
        service: String,
        option: String,
        message: String,
    },
    #[error("service {service:?}: {what} {}: {source}", path.display())]
    Io {
        service: String,
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Volume(#[from] volumes::VolumeError),
}

type Result<T> = std::result::Result<T, StorageError>;

/// Where a secret's or config's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A host file (`file:`, already absolute).
    File(PathBuf),
    /// `content:`, or `environment:` resolved by the loader.
    Inline(String),
}

/// What one mount needs from the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A host path; `create`: made when missing (short syntax, `create_host_path: true`).
    Bind { path: PathBuf, create: bool },
    /// A named volume (its full name). `device`: the local driver's `o: bind` device, used in
    /// place of the volume's own directory.
    Named {
        name: String,
        key: String,
        external: bool,
        nocopy: bool,
        subpath: String,
        device: Option<PathBuf>,
    },
    /// A volume of the container's own (image `VOLUME`, `- /path`).
    Anonymous { nocopy: bool },
    /// A tmpfs (`type: tmpfs`, or a local volume with `type: tmpfs`).
    Tmpfs,
    /// A secret (`dir` "secrets") or config ("configs") written into the container's directory.
    File {
        dir: &'static str,
        key: String,
        content: Content,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    /// Another container's mount (`volumes_from`), already resolved.
    From(Recorded),
}

/// One mount as [`wanted`] sees it: the service's volume entry (or one made up for a secret,
/// config or image volume) and its source.
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted {
    pub config: ServiceVolumeConfig,
    pub source: Source,
}

/// A `volumes_from` entry: `service:x`, `container:x` (a bare name is a service), `:ro`/`:rw`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumesFrom {
    pub service: Option<String>,
    pub container: Option<String>,
    pub read_only: Option<bool>,
}

impl VolumesFrom {
    pub fn parse(s: &str) -> VolumesFrom {
        let (rest, read_only) = match s.rsplit_once(':') {
            Some((r, "ro")) => (r, Some(true)),
            Some((r, "rw")) => (r, Some(false)),
            _ => (s, None),
        };
        match rest.split_once(':') {
            Some(("container", c)) => VolumesFrom {
                service: None,
                container: Some(c.to_owned()),
                read_only,
            },
            Some(("service", x)) => VolumesFrom {
                service: Some(x.to_owned()),
                container: None,
                read_only,
            },
            _ => VolumesFrom {
                service: Some(rest.to_owned()),
                container: None,
                read_only,
            },
        }
    }
}

/// A mount as recorded on the container ([`MOUNTS_LABEL`]): volumes by name, binds by path.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    /// "volume" or "bind".
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name, or the host path.
    #[serde(rename = "Source")]
    pub source: String,
    #[serde(rename = "Target")]
    pub target: String,
    #[serde(rename = "ReadOnly", default)]
    pub read_only: bool,
    #[serde(rename = "Anonymous", default)]
    pub anonymous: bool,
}

/// The recorded mounts of a container, from its labels (none when absent or unreadable).
pub fn recorded(container_labels: &BTreeMap<String, String>) -> Vec<Recorded> {
    container_labels
        .get(MOUNTS_LABEL)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default()
}

/// The anonymous volumes of a container, by target.
pub fn anonymous_volumes(container_labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    recorded(container_labels)
        .into_iter()
        .filter(|r| r.anonymous && r.kind == "volume")
        .map(|r| (r.target, r.source))
        .collect()
}

/// compose-go's volume name: `name:`, else `<project>_<key>`.
pub(super) fn volume_name(project: &Project, key: &str) -> String {
    match project.volumes.get(key) {
        Some(v) if !v.name.is_empty() => v.name.clone(),
        _ => format!("{}_{key}", project.name),
    }
}

/// The record of project volume `name` as `up` creates it: compose's labels, the user's labels
/// and the driver options. `None` when no project volume has that name.
pub fn project_volume(project: &Project, name: &str, version: &str) -> Option<Volume> {
    let (key, v) = project
        .volumes
        .iter()
        .find(|(k, _)| volume_name(project, k) == name)?;
    let mut labels: BTreeMap<String, String> = v
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(labels::PROJECT.into(), project.name.clone());
    labels.insert(VOLUME_LABEL.into(), key.clone());
    labels.insert(labels::VERSION.into(), version.into());
    Some(Volume {
        name: name.to_owned(),
        driver: if v.driver.is_empty() {
            "local".into()
        } else {
            v.driver.clone()
        },
        labels,
        options: v
            .driver_opts
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        created_at: String::new(),
    })
}

fn opt_err(service: &str, option: impl Into<String>, message: impl Into<String>) -> StorageError {
    StorageError::Option {
        service: service.to_owned(),
        option: option.into(),
        message: message.into(),
    }
}

/// A local volume's `driver_opts` as a mount: `o: bind` with `device` → that path; `type:
/// tmpfs` → a tmpfs with the `size`/`mode` of `o`. Anything else cannot be had without mounting
/// on the host, which berth does not do.
enum DriverMount {
    Plain,
    Device(PathBuf),
    Tmpfs(ServiceVolumeTmpfs),
}

fn driver_mount(service: &str, key: &str, project: &Project) -> Result<DriverMount> {
    let Some(v) = project.volumes.get(key) else {
        return Ok(DriverMount::Plain);
    };
    let option = || format!("volume {key:?}");
    if !v.driver.is_empty() && v.driver != "local" {
        return Err(opt_err(
            service,
            option(),
            format!(
                "volume driver {:?} is not supported; berth has only the local driver",
                v.driver
            ),
        ));
    }
    if v.driver_opts.is_empty() {
        return Ok(DriverMount::Plain);
    }
    let get = |k: &str| v.driver_opts.get(k).map(String::as_str).unwrap_or("");
    let o: Vec<&str> = get("o").split(',').filter(|s| !s.is_empty()).collect();
    if get("type") == "tmpfs" {
        let mut t = ServiceVolumeTmpfs::default();
        for opt in o {
            match opt.split_once('=') {
                Some(("size", s)) => {
                    t.size.0 = crate::model::types::ram_in_bytes(s)
                        .map_err(|e| opt_err(service, option(), format!("o size: {e}")))?
                }
                Some(("mode", m)) => {
                    t.mode = u32::from_str_radix(m, 8).map_err(|_| {
                        opt_err(service, option(), format!("o mode {m:?} is not octal"))
                    })?
                }
                _ => {
                    return Err(opt_err(
                        service,
                        option(),
                        format!("tmpfs option {opt:?} is not supported (only size and mode)"),
                    ))
                }
            }
        }
        return Ok(DriverMount::Tmpfs(t));
    }
    if o.contains(&"bind") {
        let device = get("device");
        if device.is_empty() {
            return Err(opt_err(service, option(), "o: bind needs a device"));
        }
        return Ok(DriverMount::Device(PathBuf::from(device)));
    }
    Err(opt_err(
        service,
        option(),
        format!(
            "driver_opts type {:?} is not supported; berth's local volumes take o: bind or type: tmpfs",
            get("type")
        ),
    ))
}

fn numeric(service: &str, option: &str, s: &str) -> Result<u32> {
    if s.is_empty() {
        return Ok(0);
    }
    s.parse()
        .map_err(|_| opt_err(service, option, format!("{s:?} is not a numeric id")))
}

/// The mounts service `service` wants, in the order Docker applies them: its `volumes:` (and
/// secrets, configs), then the image's `VOLUME`s that nothing else covers. `volumes_from` is
/// returned apart: it needs the other container's record. Pure.
pub fn wanted(
    project: &Project,
    service: &str,
    s: &ServiceConfig,
    image_volumes: &[String],
) -> Result<(Vec<Wanted>, Vec<VolumesFrom>)> {
    let mut out = Vec::new();
    for v in &s.volumes {
        let source = match v.r#type.as_str() {
            "bind" => Source::Bind {
                path: PathBuf::from(&v.source),
                create: v.bind.as_ref().is_some_and(|b| b.create_host_path),
            },
            "volume" if v.source.is_empty() => Source::Anonymous {
                nocopy: v.volume.as_ref().is_some_and(|o| o.nocopy),
            },
            "volume" => {
                let Some(cfg) = project.volumes.get(&v.source) else {
                    return Err(opt_err(
                        service,
                        format!("volumes {:?}", v.target),
                        format!("service \"{service}\" refers to undefined volume {}: invalid compose project", v.source),
                    ));
                };
                match driver_mount(service, &v.source, project)? {
                    DriverMount::Tmpfs(t) => {
                        let mut c = v.clone();
                        c.r#type = "tmpfs".into();
                        c.tmpfs = Some(t);
                        out.push(Wanted {
                            config: c,
                            source: Source::Tmpfs,
                        });
                        continue;
                    }
                    d => Source::Named {
                        name: volume_name(project, &v.source),
                        key: v.source.clone(),
                        external: cfg.external,
                        nocopy: v.volume.as_ref().is_some_and(|o| o.nocopy),
                        subpath: v
                            .volume
                            .as_ref()
                            .map(|o| o.subpath.clone())
                            .unwrap_or_default(),
                        device: match d {
                            DriverMount::Device(p) => Some(p),
                            _ => None,
                        },
                    },
                }
            }
            "tmpfs" => Source::Tmpfs,
            other => {
                return Err(opt_err(
                    service,
                    format!("volumes {:?}", v.target),
                    format!("mount type {other:?} is not supported"),
                ))
            }
        };
        out.push(Wanted {
            config: v.clone(),
            source,
        });
    }
    for (dir, refs) in [("secrets", &s.secrets), ("configs", &s.configs)] {
        for r in refs {
            let obj = if dir == "secrets" {
                project.secrets.get(&r.source).map(|o| &o.obj)
            } else {
                project.configs.get(&r.source).map(|o| &o.0)
            };
            let option = format!("{dir} {:?}", r.source);
            let Some(obj) = obj else {
                return Err(opt_err(
                    service,
                    option,
                    format!("{} {:?} is not defined", &dir[..dir.len() - 1], r.source),
                ));
            };
            if obj.external {
                return Err(opt_err(
                    service,
                    option,
                    "external secrets and configs are Swarm's; berth cannot provide them",
                ));
            }
            let content = if !obj.content.is_empty() {
                Content::Inline(obj.content.clone())
            } else if !obj.file.is_empty() {
                Content::File(PathBuf::from(&obj.file))
            } else if !obj.environment.is_empty() {
                // the loader resolves `environment:` into content; unset leaves it empty
                Content::Inline(String::new())
            } else {
                return Err(opt_err(
                    service,
                    option,
                    "has no file, environment or content",
                ));
            };
            let base = if dir == "secrets" { "/run/secrets" } else { "" };
            let target = if r.target.is_empty() {
                format!("{base}/{}", r.source)
            } else if r.target.starts_with('/') {
                r.target.clone()
            } else {
                format!("{base}/{}", r.target)
            };
            out.push(Wanted {
                config: ServiceVolumeConfig {
                    r#type: "bind".into(),
                    target,
                    read_only: true,
                    ..Default::default()
                },
                source: Source::File {
                    dir,
                    key: r.source.clone(),
                    content,
                    uid: numeric(service, &format!("{dir} {:?} uid", r.source), &r.uid)?,
                    gid: numeric(service, &format!("{dir} {:?} gid", r.source), &r.gid)?,
                    mode: r.mode.unwrap_or(FILE_MODE),
                },
            });
        }
    }
    add_image_volumes(&mut out, s, image_volumes);
    let from = s
        .volumes_from
        .iter()
        .map(|v| VolumesFrom::parse(v))
        .collect();
    Ok((out, from))
}

/// The image's `VOLUME`s that no mount in `out` (nor a `tmpfs:` entry) covers, as anonymous
/// volumes (Docker's rule), appended to `out`.
pub fn add_image_volumes(out: &mut Vec<Wanted>, s: &ServiceConfig, image_volumes: &[String]) {
    let covered: BTreeSet<String> = out
        .iter()
        .map(|w| w.config.target.clone())
        .chain(
            s.tmpfs
                .iter()
                .map(|t| t.split_once(':').map_or(t.as_str(), |(p, _)| p).to_owned()),
        )
        .collect();
    for target in image_volumes {
        let t = target.trim_end_matches('/');
        if !covered.contains(t) && !covered.contains(target) {
            out.push(Wanted {
                config: ServiceVolumeConfig {
                    r#type: "volume".into(),
                    target: target.clone(),
                    ..Default::default()
                },
                source: Source::Anonymous { nocopy: false },
            });
        }
    }
}

/// A `volumes_from` source's recorded mounts as wanted mounts (`:ro` makes every one read-only,
/// `:rw` writable; neither keeps each as it was), skipping targets the service mounts itself.
pub fn from_recorded(wanted: &[Wanted], from: &VolumesFrom, mounts: Vec<Recorded>) -> Vec<Wanted> {
    mounts
        .into_iter()
        .filter(|m| !wanted.iter().any(|w| w.config.target == m.target))
        .map(|mut m| {
            if let Some(ro) = from.read_only {
                m.read_only = ro;
            }
            Wanted {
                config: ServiceVolumeConfig {
                    r#type: "bind".into(),
                    target: m.target.clone(),
                    read_only: m.read_only,
                    ..Default::default()
                },
                source: Source::From(m),
            }
        })
        .collect()
}

/// Checks what can be checked before anything is made: external volumes exist, long-syntax bind
/// sources that may not be created exist, secret and config files exist.
pub fn preflight(project: &Project, services: &[String], lib: &Path) -> Result<()> {
    for (name, s) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let (wanted, _) = wanted(project, name, s, &[])?;
        for w in wanted {
            match &w.source {
                Source::Named {
                    name: vol,
                    external: true,
                    ..
                } if volumes::inspect(lib, vol)?.is_none() => {
                    return Err(StorageError::ExternalMissing(vol.clone()))
                }
                Source::Bind {
                    path,
                    create: false,
                } if !path.exists() => {
                    return Err(StorageError::BindMissing {
                        service: name.clone(),
                        path: path.clone(),
                    })
                }
                Source::File {
                    content: Content::File(p),
                    dir,
                    key,
                    ..
                } if !p.exists() => {
                    return Err(opt_err(
                        name,
                        format!("{dir} {key:?}"),
                        format!("file {} does not exist", p.display()),
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// What [`realize`] made and found.
#[derive(Debug, Default)]
pub struct Realized {
    pub mounts: Vec<ResolvedMount>,
    /// For [`MOUNTS_LABEL`].
    pub record: Vec<Recorded>,
    /// Volumes this call created (anonymous ones), to remove when the create fails.
    pub created: Vec<String>,
    /// (host directory, target): volumes to fill from the image when empty.
    pub copy_up: Vec<(PathBuf, String)>,
}

impl Realized {
    /// The JSON of [`MOUNTS_LABEL`].
    pub fn label(&self) -> String {
        serde_json::to_string(&self.record).unwrap_or_else(|_| "[]".into())
    }
}

/// A fresh anonymous volume name: 64 hex digits, as Docker's.
fn anonymous_name(target: &str) -> String {
    use sha2::Digest;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h = sha2::Sha256::new();
    h.update(format!(
        "{}:{nanos}:{}:{target}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes what the wanted mounts need on the host and returns them as resolved mounts.
/// `dir` is the container's own directory (secrets and configs go under it); `inherited` the
/// anonymous volumes of the container this one replaces, by target. On error, what this call
/// made is already removed again.
pub fn realize(
    lib: &Path,
    dir: &Path,
    project: &str,
    service: &str,
    wanted: &[Wanted],
    inherited: &BTreeMap<String, String>,
) -> Result<Realized> {
    let mut out = Realized::default();
    let r = realize_into(lib, dir, project, service, wanted, inherited, &mut out);
    if r.is_err() {
        for v in &out.created {
            let _ = volumes::remove(lib, v);
        }
        let _ = fs::remove_dir_all(dir.join("secrets"));
        let _ = fs::remove_dir_all(dir.join("configs"));
    }
    r.map(|()| out)
}

fn io_err(
    service: &str,
    what: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> StorageError {
    let service = service.to_owned();
    let path = path.to_owned();
    move |source| StorageError::Io {
        service,
        what,
        path,
        source,
    }
}

fn realize_into(
    lib: &Path,
    dir: &Path,
    project: &str,
    service: &str,
    wanted: &[Wanted],
    inherited: &BTreeMap<String, String>,
    out: &mut Realized,
) -> Result<()> {
    for w in wanted {
        let target = w.config.target.clone();
        let mut record = |kind: &str, source: String, anonymous: bool| {
            out.record.push(Recorded {
                kind: kind.into(),
                source,
                target: target.clone(),
                read_only: w.config.read_only,
                anonymous,
            })
        };
        let host: PathBuf = match &w.source {
            Source::Bind { path, create } => {
                if !path.exists() {
                    if !create {
                        return Err(StorageError::BindMissing {
                            service: service.to_owned(),
                            path: path.clone(),
                        });
                    }
                    fs::create_dir_all(path).map_err(io_err(
                        service,
                        "create bind source",
                        path,
                    ))?;
                }
                record("bind", path.display().to_string(), false);
                path.clone()
            }
            Source::Named {
                name,
                key: _,
                external,
                nocopy,
                subpath,
                device,
            } => {
                let host = match device {
                    Some(d) => {
                        if !d.exists() {
                            return Err(opt_err(
                                service,
                                format!("volumes {target:?}"),
                                format!(
                                    "failed to mount local volume {name}: device {} does not exist",
                                    d.display()
                                ),
                            ));
                        }
                        d.clone()
                    }
                    None => {
                        if volumes::inspect(lib, name)?.is_none() {
                            if *external {
                                return Err(StorageError::ExternalMissing(name.clone()));
                            }
                            // the plan creates project volumes first; this only happens when
                            // it was removed in between
                            volumes::create(
                                lib,
                                &Volume {
                                    name: name.clone(),
                                    driver: "local".into(),
                                    labels: BTreeMap::new(),
                                    options: BTreeMap::new(),
                                    created_at: String::new(),
                                },
                            )?;
                        }
                        volumes::data_dir(lib, name)
                    }
                };
                record("volume", name.clone(), false);
                if !nocopy && subpath.is_empty() {
                    out.copy_up.push((host.clone(), target.clone()));
                }
                if subpath.is_empty() {
                    host
                } else {
                    let p = host.join(subpath);
                    if !p.exists() {
                        return Err(opt_err(
                            service,
                            format!("volumes {target:?}"),
                            format!(
                                "cannot access path {}: no such file or directory",
                                p.display()
                            ),
                        ));
                    }
                    p
                }
            }
            Source::Anonymous { nocopy } => {
                let name = match inherited.get(&target) {
                    Some(n) if volumes::inspect(lib, n)?.is_some() => n.clone(),
                    _ => {
                        let name = anonymous_name(&target);
                        volumes::create(
                            lib,
                            &Volume {
                                name: name.clone(),
                                driver: "local".into(),
                                // the project label lets `down -v` find the ones an `rm`
                                // without -v left behind
                                labels: BTreeMap::from([
                                    (ANONYMOUS_LABEL.into(), String::new()),
                                    (labels::PROJECT.into(), project.to_owned()),
                                ]),
                                options: BTreeMap::new(),
                                created_at: String::new(),
                            },
                        )?;
                        out.created.push(name.clone());
                        name
                    }
                };
                record("volume", name.clone(), true);
                let host = volumes::data_dir(lib, &name);
                if !nocopy {
                    out.copy_up.push((host.clone(), target.clone()));
                }
                host
            }
            Source::Tmpfs => PathBuf::new(),
            Source::File {
                dir: sub,
                key,
                content,
                uid,
                gid,
                mode,
            } => {
                let bytes = match content {
                    Content::Inline(s) => s.clone().into_bytes(),
                    Content::File(p) => fs::read(p).map_err(io_err(service, "read", p))?,
                };
                let d = dir.join(sub);
                fs::create_dir_all(&d).map_err(io_err(service, "create", &d))?;
                let path = d.join(key);
                let _ = fs::remove_file(&path);
                fs::write(&path, bytes).map_err(io_err(service, "write", &path))?;
                std::os::unix::fs::chown(&path, Some(*uid), Some(*gid))
                    .map_err(io_err(service, "chown", &path))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(*mode))
                    .map_err(io_err(service, "chmod", &path))?;
                path
            }
            Source::From(m) => {
                let host = if m.kind == "volume" {
                    volumes::data_dir(lib, &m.source)
                } else {
                    PathBuf::from(&m.source)
                };
                out.record.push(Recorded {
                    anonymous: false,
                    ..m.clone()
                });
                host
            }
        };
        let m = ResolvedMount::from_service_volume(service, &w.config, host)
            .map_err(|e| opt_err(service, format!("volumes {target:?}"), e.to_string()))?;
        out.mounts.push(m);
    }
    Ok(())
}

/// Everything a new container of `service` mounts: [`wanted`], `volumes_from` looked up in
/// containerd, [`realize`], then [`copy_up`] from the container's snapshot `mounts`. On error
/// nothing this call made is left (the caller removes `dir`).
#[allow(clippy::too_many_arguments)] // the plain data of one container's create
pub async fn resolve(
    client: &crate::containerd::Client,
    project: &Project,
    lib: &Path,
    service: &str,
    s: &ServiceConfig,
    image: &oci_spec::image::ImageConfiguration,
    dir: &Path,
    inherited: &BTreeMap<String, String>,
    mounts: &[Mount],
) -> std::result::Result<Realized, super::AppError> {
    use super::AppError;
    let image_volumes: Vec<String> = image
        .config()
        .as_ref()
        .and_then(|c| c.volumes().clone())
        .unwrap_or_default();
    // image volumes last: a `volumes_from` mount covers them too
    let (mut wanted, from) =
        wanted(project, service, s, &[]).map_err(|e| AppError::Other(e.to_string()))?;
    for f in &from {
        let record = match (&f.service, &f.container) {
            (Some(other), _) => {
                let list = client
                    .container_list(&[
                        format!("labels.\"{}\"=={}", labels::PROJECT, project.name),
                        format!("labels.\"{}\"=={other}", labels::SERVICE),
                    ])
                    .await?;
                let mut list: Vec<_> = list.into_iter().collect();
                list.sort_by(|a, b| a.id.cmp(&b.id));
                list.into_iter().next().ok_or_else(|| {
                    AppError::Other(format!(
                        "service {service:?}: volumes_from: service {other:?} has no container"
                    ))
                })?
            }
            (None, Some(c)) => client.container_get(c).await?.ok_or_else(|| {
                AppError::Other(format!(
                    "service {service:?}: volumes_from: no such container: {c}"
                ))
            })?,
            (None, None) => continue,
        };
        let extra = from_recorded(&wanted, f, recorded(&record.labels));
        wanted.extend(extra);
    }
    add_image_volumes(&mut wanted, s, &image_volumes);
    // files, syncs and copies: on the blocking pool (`super::blocking`)
    let (lib, dir, project) = (lib.to_owned(), dir.to_owned(), project.name.clone());
    let (service, inherited, mounts) = (service.to_owned(), inherited.clone(), mounts.to_vec());
    super::blocking::run(move || {
        let realized = realize(&lib, &dir, &project, &service, &wanted, &inherited)
            .map_err(|e| AppError::Other(e.to_string()))?;
        if let Err(e) = copy_up(&mounts, &realized.copy_up) {
            for v in &realized.created {
                let _ = volumes::remove(&lib, v);
            }
            return Err(AppError::Other(format!(
                "service {service:?}: copy image content into a volume: {e}"
            )));
        }
        Ok(realized)
    })
    .await?
}

/// Fills each empty volume directory of `copy_up` with the image's content at its target (and
/// gives the directory the image directory's owner and mode), as Docker does the first time a
/// volume is mounted. A target that is not a directory in the image copies nothing. `mounts`
/// are the container's (unmounted) snapshot mounts.
pub fn copy_up(mounts: &[Mount], copy_up: &[(PathBuf, String)]) -> io::Result<()> {
    let layers = layer_dirs(mounts);
    for (dest, target) in copy_up {
        let empty = fs::read_dir(dest)?.next().is_none();
        if !empty {
            continue;
        }
        let Some(stack) = merged_dir(&layers, target) else {
            continue;
        };
        copy_merged(&stack, dest)?;
        let meta = fs::metadata(&stack[0])?;
        std::os::unix::fs::chown(dest, Some(meta.uid()), Some(meta.gid()))?;
        fs::set_permissions(dest, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    Ok(())
}

/// The directories of a snapshot's layers, top first (upperdir, then lowerdirs).
fn layer_dirs(mounts: &[Mount]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
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
    dirs
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether overlay sees `dir` as opaque (hiding the layers below).
fn is_opaque(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    for name in [c"trusted.overlay.opaque", c"user.overlay.opaque"] {
        let mut buf = [0u8; 4];
        // SAFETY: both strings are NUL-terminated and live across the call; `buf` is writable
        // for its full length, which is what we pass.
        let n = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n == 1 && buf[0] == b'y' {
            return true;
        }
    }
    false
}

/// The layers' directories making up the merged `target`, top first; `None` when it is no
/// directory in the merged view.
fn merged_dir(layers: &[PathBuf], target: &str) -> Option<Vec<PathBuf>> {
    let mut stack: Vec<PathBuf> = layers.to_vec();
    for part in Path::new(target).components().filter_map(|c| match c {
        std::path::Component::Normal(p) => Some(p),
        _ => None,
    }) {
        stack = child_stack(&stack, part)?;
    }
    Some(stack)
}

/// The directories making up the merged child `name` of the merged directory `stack`, when
/// that child is a directory.
fn child_stack(stack: &[PathBuf], name: &std::ffi::OsStr) -> Option<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in stack {
        let p = d.join(name);
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if !meta.is_dir() {
            // a whiteout or a file hides what is below; above a directory it was the answer
            break;
        }
        let opaque = is_opaque(&p);
        out.push(p);
        if opaque {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Copies the merged directory `stack` into `dest` (which exists): files, symlinks and
/// directories with their modes and owners; whiteouts applied; other special files skipped.
fn copy_merged(stack: &[PathBuf], dest: &Path) -> io::Result<()> {
    let mut names = BTreeSet::new();
    for d in stack {
        for e in fs::read_dir(d)? {
            names.insert(e?.file_name());
        }
    }
    for name in names {
        // the topmost layer holding the name decides what it is
        let Some((i, meta)) = stack
            .iter()
            .enumerate()
            .find_map(|(i, d)| fs::symlink_metadata(d.join(&name)).ok().map(|m| (i, m)))
        else {
            continue;
        };
        let src = stack[i].join(&name);
        let to = dest.join(&name);
        let ft = meta.file_type();
        if is_whiteout(&meta) {
            continue;
        } else if ft.is_dir() {
            let Some(child) = child_stack(&stack[i..], &name) else {
                continue;
            };
            fs::create_dir(&to)?;
            copy_merged(&child, &to)?;
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &to)?;
        } else if ft.is_file() {
            fs::copy(&src, &to)?;
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()))?;
    }
    Ok(())
}

/// The anonymous volumes of `project` that no container in `in_use` (every container's
/// recorded mounts) refers to: left by an `rm` without `-v` or a scale-down; `down -v` removes
/// them so nothing berth made outlives it.
pub fn dangling_anonymous(
    lib: &Path,
    project: &str,
    in_use: &BTreeSet<String>,
) -> std::result::Result<Vec<String>, String> {
    Ok(volumes::list(lib)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|v| {
            v.labels.contains_key(ANONYMOUS_LABEL)
                && v.labels.get(labels::PROJECT).map(String::as_str) == Some(project)
                && !in_use.contains(&v.name)
        })
        .map(|v| v.name)
        .collect())
}

/// Every volume the containers with these labels record as mounted.
pub fn volumes_in_use<'a>(
    containers: impl IntoIterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeSet<String> {
    containers
        .into_iter()
        .flat_map(recorded)
        .filter(|r| r.kind == "volume")
        .map(|r| r.source)
        .collect()
}

/// Removes the anonymous volumes of a removed container (`down -v`, `rm -v`). Returns the
/// failures.
pub fn remove_anonymous(lib: &Path, container_labels: &BTreeMap<String, String>) -> Vec<String> {
    let mut errors = Vec::new();
    for name in anonymous_volumes(container_labels).values() {
        if let Err(e) = volumes::remove(lib, name) {
            errors.push(e.to_string());
        }
    }
    errors
}

#[cfg(test)]
#[path = "storage_tests.rs"]
mod tests;
