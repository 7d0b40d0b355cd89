//! The records the DNS server answers from: files berth writes under `<run_dir>/dns/`, one per
//! network and one per container on it, so that writers never share a file and need no lock.
//!
//! Layout (every file JSON, written with [`crate::state::write_atomic`]):
//!
//! ```text
//! <run_dir>/dns/<network>/network.json                 NetworkRecord
//! <run_dir>/dns/<network>/containers/<container>.json  ContainerRecord
//! <run_dir>/dns/server.pid                             the server's pid (and its lock)
//! <run_dir>/dns/server.log                             the server's stdout and stderr
//! ```
//!
//! `network.json`:
//! `{"name":"app_default","gateways":["10.251.0.1","fd00:b51::1"],
//!   "subnets":["10.251.0.0/24","fd00:b51::/64"],"internal":false}`
//!
//! `containers/app-web-1.json`:
//! `{"name":"app-web-1","addresses":["10.251.0.2","fd00:b51::2"],
//!   "names":["web","app-web-1","www","3f2a9c1b7e0d"],"links":{"database":"db"},
//!   "upstreams":["192.0.2.53:53"]}`
//!
//! Containers live in a directory of their own so that no container name can clash with
//! `network.json`. A network directory whose `network.json` is missing (being written, or half
//! removed) is not served; the server exits once no network directory is left.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::DnsError;
use crate::state::write_atomic;

/// One network the server answers on: `<run_dir>/dns/<network>/network.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// The network's full name (`<project>_<network>`); also its directory's name.
    pub name: String,
    /// The bridge's addresses: the server listens on port 53 of each.
    pub gateways: Vec<IpAddr>,
    /// Only clients whose source address is in one of these are answered.
    pub subnets: Vec<IpNet>,
    /// An internal network gets its own names and nothing forwarded.
    #[serde(default)]
    pub internal: bool,
}

/// One container on one network: `<run_dir>/dns/<network>/containers/<container>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// The container's name; also its file's name and the answer to a PTR query.
    pub name: String,
    /// Its addresses on this network (IPv4 answers A queries, IPv6 AAAA).
    pub addresses: Vec<IpAddr>,
    /// Every name that resolves to it on this network: service, container name, aliases,
    /// hostname. Matched case-insensitively; a trailing dot is ignored.
    #[serde(default)]
    pub names: Vec<String>,
    /// `links:` of the container: alias → name of the target. Only queries from this
    /// container's addresses see the alias.
    #[serde(default)]
    pub links: BTreeMap<String, String>,
    /// The container's `dns:` servers (with port, normally 53); when empty, names that are not
    /// the network's go to the host's resolvers.
    #[serde(default)]
    pub upstreams: Vec<SocketAddr>,
}

/// `<run_dir>/dns`.
pub fn dns_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("dns")
}

/// `<run_dir>/dns/<network>`.
pub fn network_dir(run_dir: &Path, network: &str) -> Result<PathBuf, DnsError> {
    check_name("network", network)?;
    Ok(dns_dir(run_dir).join(network))
}

fn container_file(run_dir: &Path, network: &str, container: &str) -> Result<PathBuf, DnsError> {
    check_name("container", container)?;
    Ok(network_dir(run_dir, network)?
        .join("containers")
        .join(format!("{container}.json")))
}

/// A network or container name must be one path component that is not hidden (the server's
/// own files and `write_atomic`'s temporary files start with a dot).
fn check_name(what: &'static str, name: &str) -> Result<(), DnsError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.starts_with('.') {
        Some("it starts with '.'")
    } else if name.contains('/') || name.contains('\0') {
        Some("it contains '/' or NUL")
    } else if name.len() > 200 {
        Some("it is longer than 200 bytes")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DnsError::InvalidName {
            what,
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs (strings, addresses, maps with string keys) cannot fail.
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Writes (or replaces) a network's record.
pub fn write_network(run_dir: &Path, network: &NetworkRecord) -> Result<(), DnsError> {
    let path = network_dir(run_dir, &network.name)?.join("network.json");
    Ok(write_atomic(&path, &to_json(network), 0o644)?)
}

/// Writes (or replaces) a container's record on `network`.
pub fn write_container(
    run_dir: &Path,
    network: &str,
    container: &ContainerRecord,
) -> Result<(), DnsError> {
    let path = container_file(run_dir, network, &container.name)?;
    Ok(write_atomic(&path, &to_json(container), 0o644)?)
}

/// Removes a container's record from `network`; false when there was none.
pub fn remove_container(run_dir: &Path, network: &str, container: &str) -> Result<bool, DnsError> {
    let path = container_file(run_dir, network, container)?;
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(DnsError::Io {
            what: "remove DNS record",
            path,
            source,
        }),
    }
}

/// Removes a network's directory with every record in it; false when there was none.
pub fn remove_network(run_dir: &Path, network: &str) -> Result<bool, DnsError> {
    let path = network_dir(run_dir, network)?;
    match fs::remove_dir_all(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(DnsError::Io {
            what: "remove DNS records of network",
            path,
            source,
        }),
    }
}

/// A network and its containers as read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedNetwork {
    pub network: NetworkRecord,
    pub containers: Vec<ContainerRecord>,
}

/// What [`load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub networks: Vec<LoadedNetwork>,
    /// Network directories, served or not: the server exits when this is 0.
    pub directories: usize,
    /// Files that could not be read or parsed (skipped), for the server's log.
    pub problems: Vec<String>,
}

/// Whether `<run_dir>/dns` holds any network directory.
pub fn has_networks(run_dir: &Path) -> bool {
    network_dirs(&dns_dir(run_dir))
        .map(|d| !d.is_empty())
        .unwrap_or(false)
}

fn network_dirs(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut dirs = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(dirs),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        dirs.push((name, entry.path()));
    }
    dirs.sort();
    Ok(dirs)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, String> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Reads every record under `<run_dir>/dns`. Never fails as a whole: a file that cannot be read
/// is skipped and reported in [`Loaded::problems`], so one bad record does not silence the rest.
pub fn load(run_dir: &Path) -> Loaded {
    let dir = dns_dir(run_dir);
    let mut loaded = Loaded::default();
    let dirs = match network_dirs(&dir) {
        Ok(d) => d,
        Err(e) => {
            loaded.problems.push(format!("{}: {e}", dir.display()));
            // Unknown: keep the server up rather than exit on a passing error.
            loaded.directories = 1;
            return loaded;
        }
    };
    loaded.directories = dirs.len();
    for (name, path) in dirs {
        let network: NetworkRecord = match read_json(&path.join("network.json")) {
            Ok(Some(n)) => n,
            Ok(None) => continue,
            Err(e) => {
                loaded.problems.push(e);
                continue;
            }
        };
        if network.name != name {
            loaded.problems.push(format!(
                "{}: names network {:?}, not {name:?}; skipped",
                path.join("network.json").display(),
                network.name
            ));
            continue;
        }
        let mut containers = Vec::new();
        let cdir = path.join("containers");
        let files = match fs::read_dir(&cdir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    let n = p
                        .file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default();
                    !n.starts_with('.') && n.ends_with(".json")
                })
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                loaded.problems.push(format!("{}: {e}", cdir.display()));
                Vec::new()
            }
        };
        for file in files {
            match read_json::<ContainerRecord>(&file) {
                Ok(Some(c)) => containers.push(c),
                Ok(None) => {}
                Err(e) => loaded.problems.push(e),
            }
        }
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        loaded.networks.push(LoadedNetwork {
            network,
            containers,
        });
    }
    loaded
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "berth-dns-records-{}-{name}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn net(name: &str) -> NetworkRecord {
        NetworkRecord {
            name: name.into(),
            gateways: vec!["10.251.0.1".parse().unwrap()],
            subnets: vec!["10.251.0.0/24".parse().unwrap()],
            internal: false,
        }
    }

    fn ctr(name: &str) -> ContainerRecord {
        ContainerRecord {
            name: name.into(),
            addresses: vec!["10.251.0.2".parse().unwrap()],
            names: vec!["web".into(), name.into()],
            links: BTreeMap::from([("database".into(), "db".into())]),
            upstreams: vec!["192.0.2.53:53".parse().unwrap()],
        }
    }

    #[test]
    fn write_load_remove() {
        let run = scratch("wlr");
        assert!(!has_networks(&run));
        write_network(&run, &net("app_default")).unwrap();
        write_container(&run, "app_default", &ctr("app-web-2")).unwrap();
        write_container(&run, "app_default", &ctr("app-web-1")).unwrap();
        // a container called "network" cannot clash with network.json
        write_container(&run, "app_default", &ctr("network")).unwrap();
        // a directory without network.json yet counts, but is not served
        write_container(&run, "app_other", &ctr("x")).unwrap();
        // a temporary file of a writer is not a record
        fs::write(
            dns_dir(&run).join("app_default/containers/.app-web-3.json.9.tmp"),
            "{",
        )
        .unwrap();
        let l = load(&run);
        assert_eq!(l.directories, 2);
        assert!(l.problems.is_empty(), "{:?}", l.problems);
        assert_eq!(l.networks.len(), 1);
        assert_eq!(l.networks[0].network, net("app_default"));
        let names: Vec<&str> = l.networks[0]
            .containers
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["app-web-1", "app-web-2", "network"]);
        assert_eq!(l.networks[0].containers[0], ctr("app-web-1"));

        // a broken file is reported and skipped, the rest still served
        fs::write(dns_dir(&run).join("app_default/containers/bad.json"), "{").unwrap();
        let l = load(&run);
        assert_eq!(l.problems.len(), 1, "{:?}", l.problems);
        assert!(l.problems[0].contains("bad.json"), "{:?}", l.problems);
        assert_eq!(l.networks[0].containers.len(), 3);

        assert!(remove_container(&run, "app_default", "app-web-1").unwrap());
        assert!(!remove_container(&run, "app_default", "app-web-1").unwrap());
        assert!(remove_network(&run, "app_default").unwrap());
        assert!(remove_network(&run, "app_other").unwrap());
        assert!(!remove_network(&run, "app_other").unwrap());
        assert!(!has_networks(&run));
        assert_eq!(load(&run).directories, 0);
        fs::remove_dir_all(&run).unwrap();
    }

    #[test]
    fn names_are_checked() {
        let run = Path::new("/nonexistent");
        for bad in ["", ".x", "a/b", "..", "a\0b"] {
            let e = write_network(run, &net(bad)).unwrap_err().to_string();
            assert!(e.starts_with("invalid network name"), "{e}");
            let e = remove_container(run, "n", bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid container name"), "{e}");
        }
    }

    #[test]
    fn format_is_the_documented_one() {
        let c: ContainerRecord = serde_json::from_str(
            r#"{"name":"app-web-1","addresses":["10.251.0.2","fd00:b51::2"],
                "names":["web"],"links":{"database":"db"},"upstreams":["192.0.2.53:53"]}"#,
        )
        .unwrap();
        assert_eq!(c.addresses[1], "fd00:b51::2".parse::<IpAddr>().unwrap());
        // optional fields may be left out
        let c: ContainerRecord = serde_json::from_str(r#"{"name":"a","addresses":[]}"#).unwrap();
        assert!(c.names.is_empty() && c.links.is_empty() && c.upstreams.is_empty());
        let n: NetworkRecord = serde_json::from_str(
            r#"{"name":"n","gateways":["10.251.0.1"],"subnets":["10.251.0.0/24"]}"#,
        )
        .unwrap();
        assert!(!n.internal);
    }
}
