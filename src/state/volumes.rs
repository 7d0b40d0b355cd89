//! Named volumes of the local driver, as Docker keeps them: a directory
//! `<lib>/volumes/<name>/_data` holding the data and, beside it, `volume.json` recording the
//! driver, labels and options (written atomically, once, when the volume is made). Creating is
//! idempotent and race-free across processes: the volume directory is made with one `mkdir`,
//! and whoever makes it writes the record.
//!
//! `volume.json`: `{"Name": ..., "Driver": "local", "Labels": {...}, "Options": {...},
//! "CreatedAt": RFC 3339}` (Docker's field names, so `docker volume inspect` habits carry over).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{write_atomic, StateError};

/// One named volume.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `driver_opts` (type, o, device for the local driver).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub created_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(transparent)]
    State(#[from] StateError),
    /// Docker's rule for volume names.
    #[error("create {0}: {0:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")]
    InvalidName(String),
    #[error("volume {name}: its record {} is not valid: {cause}", path.display())]
    BadRecord {
        name: String,
        path: PathBuf,
        cause: String,
    },
}

/// Whether `name` is a valid local volume name (Docker: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The directory of volume `name` under `lib` (normally /var/lib/berth).
pub fn volume_dir(lib: &Path, name: &str) -> PathBuf {
    lib.join("volumes").join(name)
}

/// Where the volume's data lives: what containers mount.
pub fn data_dir(lib: &Path, name: &str) -> PathBuf {
    volume_dir(lib, name).join("_data")
}

/// The volume record, or `None` when there is no such volume.
pub fn inspect(lib: &Path, name: &str) -> Result<Option<Volume>, VolumeError> {
    let path = volume_dir(lib, name).join("volume.json");
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                what: "read",
                path,
                source,
            }
            .into())
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| VolumeError::BadRecord {
            name: name.to_owned(),
            path,
            cause: e.to_string(),
        })
}

/// Makes volume `wanted.name` unless it exists; returns the volume as it is and whether this
/// call made it.
pub fn create(lib: &Path, wanted: &Volume) -> Result<(Volume, bool), VolumeError> {
    if !valid_name(&wanted.name) {
        return Err(VolumeError::InvalidName(wanted.name.clone()));
    }
    let dir = volume_dir(lib, &wanted.name);
    let parent = lib.join("volumes");
    fs::create_dir_all(&parent).map_err(|source| StateError::Io {
        what: "create directory",
        path: parent.clone(),
        source,
    })?;
    match fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // made by someone else, maybe still writing its record: wait for it briefly
            for _ in 0..50 {
                if let Some(v) = inspect(lib, &wanted.name)? {
                    return Ok((v, false));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // a directory with no record (berth died between mkdir and write): adopt it
        }
        Err(source) => {
            return Err(StateError::Io {
                what: "create volume directory",
                path: dir,
                source,
            }
            .into())
        }
    }
    let data = dir.join("_data");
    fs::create_dir_all(&data).map_err(|source| StateError::Io {
        what: "create volume data directory",
        path: data.clone(),
        source,
    })?;
    let mut record = wanted.clone();
    if record.created_at.is_empty() {
        record.created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    }
    let json = serde_json::to_vec_pretty(&record).map_err(|e| VolumeError::BadRecord {
        name: record.name.clone(),
        path: dir.join("volume.json"),
        cause: e.to_string(),
    })?;
    write_atomic(&dir.join("volume.json"), &json, 0o600)?;
    Ok((record, true))
}

/// Every volume under `lib` with a readable record, sorted by name.
pub fn list(lib: &Path) -> Result<Vec<Volume>, VolumeError> {
    let dir = lib.join("volumes");
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StateError::Io {
                what: "list",
                path: dir,
                source,
            }
            .into())
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(v) = inspect(lib, &name)? {
            out.push(v);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Removes volume `name` and its data; returns false when there was none.
pub fn remove(lib: &Path, name: &str) -> Result<bool, VolumeError> {
    if !valid_name(name) {
        return Err(VolumeError::InvalidName(name.to_owned()));
    }
    let dir = volume_dir(lib, name);
    match fs::remove_dir_all(&dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StateError::Io {
            what: "remove volume",
            path: dir,
            source,
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-vol-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn vol(name: &str) -> Volume {
        let mut labels = BTreeMap::new();
        labels.insert("com.docker.compose.project".into(), "p".into());
        labels.insert("com.docker.compose.volume".into(), "data".into());
        Volume {
            name: name.into(),
            driver: "local".into(),
            labels,
            options: BTreeMap::new(),
            created_at: String::new(),
        }
    }

    #[test]
    fn names_follow_docker() {
        assert!(valid_name("p_data"));
        assert!(valid_name("a.b-c_d9"));
        assert!(!valid_name("a"));
        assert!(!valid_name("_x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
    }

    #[test]
    fn create_is_idempotent_and_keeps_the_first_record() {
        let lib = scratch("idem");
        let (v, made) = create(&lib, &vol("p_data")).unwrap();
        assert!(made);
        assert!(data_dir(&lib, "p_data").is_dir());
        assert!(!v.created_at.is_empty());
        let mut other = vol("p_data");
        other.labels.clear();
        let (again, made) = create(&lib, &other).unwrap();
        assert!(!made);
        assert_eq!(again, v);
        assert_eq!(inspect(&lib, "p_data").unwrap(), Some(v));
        fs::remove_dir_all(&lib).unwrap();
    }

    #[test]
    fn data_survives_until_removed() {
        let lib = scratch("data");
        create(&lib, &vol("p_db")).unwrap();
        fs::write(data_dir(&lib, "p_db").join("f"), "x").unwrap();
        create(&lib, &vol("p_db")).unwrap();
        assert_eq!(
            fs::read_to_string(data_dir(&lib, "p_db").join("f")).unwrap(),
            "x"
        );
        create(&lib, &vol("q_db")).unwrap();
        let names: Vec<String> = list(&lib).unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["p_db", "q_db"]);
        assert!(remove(&lib, "p_db").unwrap());
        assert!(!remove(&lib, "p_db").unwrap());
        assert_eq!(inspect(&lib, "p_db").unwrap(), None);
        fs::remove_dir_all(&lib).unwrap();
    }

    #[test]
    fn a_bad_name_is_docker_error() {
        let lib = scratch("bad");
        let e = create(&lib, &vol("a/b")).unwrap_err().to_string();
        assert!(
            e.contains("includes invalid characters for a local volume name"),
            "{e}"
        );
        assert!(!lib.join("volumes").exists());
    }

    #[test]
    fn concurrent_creates_agree() {
        let lib = scratch("race");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let lib = lib.clone();
                std::thread::spawn(move || create(&lib, &vol("p_shared")).unwrap())
            })
            .collect();
        let results: Vec<(Volume, bool)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|(_, made)| *made).count(), 1);
        let first = &results[0].0;
        assert!(results.iter().all(|(v, _)| v == first));
        fs::remove_dir_all(&lib).unwrap();
    }
}
