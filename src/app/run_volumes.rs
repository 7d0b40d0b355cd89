//! `run -v SRC:DST[:OPTS]`: a one-off's extra volumes. Each is compose's short volume syntax
//! (`model::canonical::parse_volume_spec`), added to the service's `volumes:` as
//! `docker compose run` does (`runOptions.apply`), so it takes the same storage path as the
//! service's own mounts (app/storage.rs): binds, named and anonymous volumes, copy-up.
//!
//! What compose leaves to the Docker engine, berth does here the way the engine would: a
//! relative bind source is made absolute from the current directory (compose's `filepath.Abs`,
//! not the project directory); a named source that is a key of the project's `volumes:` (as
//! loaded: like compose, the loader drops volumes no selected service uses) is that project
//! volume; any other name is a plain volume of exactly that name, made when missing with no
//! project labels, so `down -v` keeps it (Docker makes it on first use the same way).

use std::collections::BTreeMap;
use std::path::Path;

use super::AppError;
use crate::model::canonical::parse_volume_spec;
use crate::model::types::{
    Project, ServiceVolumeBind, ServiceVolumeConfig, ServiceVolumeVolume, VolumeConfig,
};

/// What the extra volumes need before the container is made.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Extra {
    /// Plain volumes (no project labels) to make when missing.
    pub plain: Vec<String>,
    /// Keys of project volumes the one-off mounts.
    pub project: Vec<String>,
}

/// Adds `specs` to service `service` of `project` (and a volume entry for each plain volume,
/// as an external one of its own name).
pub fn apply(
    project: &mut Project,
    service: &str,
    specs: &[String],
    cwd: &Path,
) -> Result<Extra, AppError> {
    let mut extra = Extra::default();
    let mut added = Vec::new();
    for spec in specs {
        let v = parse_volume_spec(spec).map_err(AppError::Other)?;
        if !v.target.starts_with('/') {
            return Err(AppError::Other(format!(
                "invalid mount config for type {:?}: invalid mount path: '{}' mount path must be absolute",
                v.kind, v.target
            )));
        }
        let mut source = v.source.clone();
        if v.kind == "bind" && !source.starts_with('/') {
            source = crate::model::paths::join_clean(cwd, &source);
        }
        if v.kind == "volume" && !source.is_empty() {
            if project.volumes.contains_key(&source) {
                extra.project.push(source.clone());
            } else {
                extra.plain.push(source.clone());
            }
        }
        added.push(ServiceVolumeConfig {
            r#type: v.kind.to_owned(),
            source,
            target: v.target.clone(),
            read_only: v.read_only,
            bind: v.bind.map(|b| ServiceVolumeBind {
                selinux: b.selinux,
                propagation: b.propagation,
                create_host_path: b.create_host_path,
                ..Default::default()
            }),
            volume: v.volume.map(|o| ServiceVolumeVolume {
                nocopy: o.nocopy,
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let Some(s) = project.services.get_mut(service) else {
        return Err(AppError::Other(format!("no such service: {service}")));
    };
    s.volumes.extend(added);
    for name in &extra.plain {
        project
            .volumes
            .entry(name.clone())
            .or_insert_with(|| VolumeConfig {
                name: name.clone(),
                external: true,
                ..Default::default()
            });
    }
    Ok(extra)
}

/// Makes the plain volumes of `extra` that do not exist yet.
pub fn make_plain(lib: &Path, extra: &Extra) -> Result<(), AppError> {
    for name in &extra.plain {
        crate::state::volumes::create(
            lib,
            &crate::state::volumes::Volume {
                name: name.clone(),
                driver: "local".into(),
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                created_at: String::new(),
            },
        )
        .map_err(|e| AppError::Other(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> Project {
        let mut p = Project {
            name: "p".into(),
            ..Default::default()
        };
        p.services.insert("app".into(), Default::default());
        p.volumes.insert("data".into(), Default::default());
        p
    }

    #[test]
    fn binds_named_plain_and_anonymous_volumes() {
        let mut p = project();
        let specs: Vec<String> = [
            "./here:/a:ro",
            "/abs:/b",
            "data:/c",
            "cache:/d:nocopy",
            "/e",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let extra = apply(&mut p, "app", &specs, Path::new("/work/dir")).unwrap();
        assert_eq!(
            extra,
            Extra {
                plain: vec!["cache".into()],
                project: vec!["data".into()],
            }
        );
        let v = &p.services["app"].volumes;
        let row = |i: usize| {
            (
                v[i].r#type.as_str(),
                v[i].source.as_str(),
                v[i].target.as_str(),
            )
        };
        assert_eq!(row(0), ("bind", "/work/dir/here", "/a"));
        assert!(v[0].read_only);
        assert!(v[0].bind.as_ref().unwrap().create_host_path);
        assert_eq!(row(1), ("bind", "/abs", "/b"));
        assert_eq!(row(2), ("volume", "data", "/c"));
        assert_eq!(row(3), ("volume", "cache", "/d"));
        assert!(v[3].volume.as_ref().unwrap().nocopy);
        assert_eq!(row(4), ("volume", "", "/e"));
        let cache = &p.volumes["cache"];
        assert!(cache.external);
        assert_eq!(cache.name, "cache");
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut p = project();
        let e = apply(&mut p, "app", &["data:/x:ro:extra".into()], Path::new("/")).unwrap_err();
        assert!(
            e.to_string()
                .contains("invalid spec: data:/x:ro:extra: too many colons"),
            "{e}"
        );
        let e = apply(&mut p, "app", &["data:rel".into()], Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("mount path must be absolute"), "{e}");
        assert!(p.services["app"].volumes.is_empty());
    }
}
