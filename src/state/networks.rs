//! berth's networks on disk: one JSON record per network under `<lib>/networks/<name>.json`,
//! holding what was decided when it was made (bridge name, subnets, flags, labels) and who is
//! attached (each endpoint's addresses and published ports). Address allocation spans every
//! network (a new subnet must not overlap another's), so every read-modify-write happens under
//! one lock, [`NetworksLock`], taken by [`Networks::lock`].
//!
//! Knows nothing of Compose, containerd or netlink: callers decide what a record says.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{io_err, write_atomic, StateError};
use crate::network::ipam::Subnet;

/// One network berth made (or found made by another project of berth's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    /// 64 hex digits, like a Docker network id.
    pub id: String,
    pub driver: String,
    /// The Linux bridge.
    pub bridge: String,
    pub subnets: Vec<Subnet>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub created_at: String,
    /// Attached containers by [`endpoint_key`].
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// One container's place on a network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The container's addresses on this network.
    pub addrs: Vec<IpAddr>,
    /// The ports published through this endpoint (the container's first network carries
    /// them, as Docker's gateway endpoint does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Published>,
}

/// One published port as applied: host side and container side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// `None`: every host address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub proto: String,
}

/// The key of a container's endpoint: containers are per containerd namespace, networks are
/// per host.
pub fn endpoint_key(namespace: &str, container: &str) -> String {
    format!("{namespace}/{container}")
}

/// The records of one state directory.
#[derive(Clone, Debug)]
pub struct Networks {
    dir: PathBuf,
}

/// The lock every change to the records is made under (an advisory `flock`, released when
/// the process dies).
#[derive(Debug)]
pub struct NetworksLock {
    file: File,
}

impl Drop for NetworksLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl Networks {
    pub fn new(lib: &Path) -> Networks {
        Networks {
            dir: lib.join("networks"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Takes the lock, waiting for whoever holds it.
    pub fn lock(&self) -> Result<NetworksLock, StateError> {
        fs::create_dir_all(&self.dir).map_err(io_err("create directory", &self.dir))?;
        let path = self.dir.join(".lock");
        let file = super::open_lock_file(&path)?;
        file.lock().map_err(io_err("lock", &path))?;
        Ok(NetworksLock { file })
    }

    /// The record of `name`, if there is one.
    pub fn get(&self, name: &str) -> Result<Option<Network>, StateError> {
        let path = self.path(name);
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StateError::Io {
                    what: "parse network record",
                    path,
                    source: io::Error::new(io::ErrorKind::InvalidData, e),
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    /// Every record, sorted by name.
    pub fn list(&self) -> Result<Vec<Network>, StateError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read directory", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("read directory", &self.dir))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".json") else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if let Some(n) = self.get(name)? {
                out.push(n);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Writes `n`'s record (atomically). The caller holds the lock.
    pub fn put(&self, _lock: &NetworksLock, n: &Network) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(n).map_err(|e| StateError::Io {
            what: "encode network record",
            path: self.path(&n.name),
            source: io::Error::other(e),
        })?;
        write_atomic(&self.path(&n.name), &bytes, 0o644)
    }

    /// Removes `name`'s record; false when there was none. The caller holds the lock.
    pub fn remove(&self, _lock: &NetworksLock, name: &str) -> Result<bool, StateError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> Network {
        Network {
            name: name.into(),
            id: "0".repeat(64),
            driver: "bridge".into(),
            bridge: "br-000000000000".into(),
            subnets: vec![Subnet::new("10.9.0.0/24".parse().unwrap(), None, None).unwrap()],
            internal: false,
            enable_ipv6: false,
            mtu: None,
            labels: BTreeMap::new(),
            created_at: String::new(),
            endpoints: BTreeMap::new(),
        }
    }

    #[test]
    fn records_round_trip_and_list_sorted() {
        let dir = std::env::temp_dir().join(format!("berth-nets-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let nets = Networks::new(&dir);
        assert!(nets.list().unwrap().is_empty());
        let lock = nets.lock().unwrap();
        let mut b = record("b_default");
        b.endpoints.insert(
            endpoint_key("ns", "b-web-1"),
            Endpoint {
                addrs: vec!["10.9.0.2".parse().unwrap()],
                ports: vec![Published {
                    host_ip: None,
                    host_port: 8080,
                    container_port: 80,
                    proto: "tcp".into(),
                }],
            },
        );
        nets.put(&lock, &b).unwrap();
        nets.put(&lock, &record("a_default")).unwrap();
        let names: Vec<_> = nets.list().unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["a_default", "b_default"]);
        assert_eq!(nets.get("b_default").unwrap().unwrap(), b);
        assert!(nets.remove(&lock, "a_default").unwrap());
        assert!(!nets.remove(&lock, "a_default").unwrap());
        assert_eq!(nets.get("a_default").unwrap(), None);
        drop(lock);
        fs::remove_dir_all(&dir).unwrap();
    }
}
