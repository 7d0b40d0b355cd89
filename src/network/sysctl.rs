//! The kernel settings berth's networks need, written under /proc/sys: IP forwarding (so
//! containers reach beyond their bridge) and `route_localnet` on a bridge (so the host's own
//! connections to 127.0.0.1:<published port> can be DNAT'ed out of it). Each call only ever
//! turns a setting on, and says whether it changed it, so the caller can tell the user
//! ("berth enabled net.ipv4.ip_forward"). berth never turns them off again: other software may
//! rely on them by then.

use std::io;
use std::path::{Path, PathBuf};

use super::netlink::validate_ifname;

/// Where the kernel's settings are.
pub const PROC_SYS: &str = "/proc/sys";

pub const IPV4_FORWARD: &str = "net.ipv4.ip_forward";
pub const IPV6_FORWARD: &str = "net.ipv6.conf.all.forwarding";

#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    #[error("{action} {key}: {source}")]
    Io {
        action: &'static str,
        key: String,
        #[source]
        source: io::Error,
    },
    #[error("set {key}: {reason}")]
    Invalid { key: String, reason: String },
}

type Result<T> = std::result::Result<T, SysctlError>;

/// The settings under a root directory (/proc/sys; a scratch directory in unit tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    root: PathBuf,
}

impl Default for Sysctl {
    fn default() -> Self {
        Sysctl::new(PROC_SYS)
    }
}

impl Sysctl {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Sysctl { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Enables IPv4 forwarding, and IPv6 forwarding too when `v6` (some berth network has an
    /// IPv6 subnet). Returns the names of the settings it changed (empty when all were on).
    ///
    /// IPv6 forwarding on makes the kernel ignore router advertisements on interfaces whose
    /// accept_ra is 1, which is why it is asked for only when a network needs it.
    pub fn enable_ip_forward(&self, v6: bool) -> Result<Vec<&'static str>> {
        let mut changed = Vec::new();
        if self.ensure(IPV4_FORWARD, &["net", "ipv4", "ip_forward"])? {
            changed.push(IPV4_FORWARD);
        }
        if v6 && self.ensure(IPV6_FORWARD, &["net", "ipv6", "conf", "all", "forwarding"])? {
            changed.push(IPV6_FORWARD);
        }
        Ok(changed)
    }

    /// Sets `net.ipv4.conf.<bridge>.route_localnet` to 1; true when it changed. The bridge
    /// must exist (the kernel makes the file with the interface).
    pub fn set_route_localnet(&self, bridge: &str) -> Result<bool> {
        let key = format!("net.ipv4.conf.{bridge}.route_localnet");
        validate_ifname(bridge).map_err(|e| SysctlError::Invalid {
            key: key.clone(),
            reason: e.to_string(),
        })?;
        self.ensure(&key, &["net", "ipv4", "conf", bridge, "route_localnet"])
    }

    /// Reads a setting, trimmed.
    pub fn read(&self, key: &str, parts: &[&str]) -> Result<String> {
        let path = self.path(parts);
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_string())
            .map_err(|source| SysctlError::Io {
                action: "read",
                key: key.to_string(),
                source,
            })
    }

    /// Makes the setting 1 unless it is already; true when it wrote.
    fn ensure(&self, key: &str, parts: &[&str]) -> Result<bool> {
        if self.read(key, parts)? == "1" {
            return Ok(false);
        }
        std::fs::write(self.path(parts), b"1\n").map_err(|source| SysctlError::Io {
            action: "set",
            key: key.to_string(),
            source,
        })?;
        Ok(true)
    }

    fn path(&self, parts: &[&str]) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(parts);
        p
    }
}

/// [`Sysctl::enable_ip_forward`] on /proc/sys.
pub fn enable_ip_forward(v6: bool) -> Result<Vec<&'static str>> {
    Sysctl::default().enable_ip_forward(v6)
}

/// [`Sysctl::set_route_localnet`] on /proc/sys.
pub fn set_route_localnet(bridge: &str) -> Result<bool> {
    Sysctl::default().set_route_localnet(bridge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("berth-sysctl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["net/ipv4/conf/br0", "net/ipv6/conf/all"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(dir.join("net/ipv4/ip_forward"), "0\n").unwrap();
        std::fs::write(dir.join("net/ipv6/conf/all/forwarding"), "0\n").unwrap();
        std::fs::write(dir.join("net/ipv4/conf/br0/route_localnet"), "0\n").unwrap();
        dir
    }

    #[test]
    fn forwarding_is_turned_on_once() {
        let dir = root("fwd");
        let s = Sysctl::new(&dir);
        assert_eq!(s.enable_ip_forward(false).unwrap(), vec![IPV4_FORWARD]);
        let v4 = std::fs::read_to_string(dir.join("net/ipv4/ip_forward")).unwrap();
        assert_eq!(v4.trim(), "1");
        let v6 = std::fs::read_to_string(dir.join("net/ipv6/conf/all/forwarding")).unwrap();
        assert_eq!(v6.trim(), "0", "v6 left alone when no network needs it");
        assert_eq!(s.enable_ip_forward(true).unwrap(), vec![IPV6_FORWARD]);
        assert!(s.enable_ip_forward(true).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn route_localnet() {
        let dir = root("rl");
        let s = Sysctl::new(&dir);
        assert!(s.set_route_localnet("br0").unwrap());
        assert!(!s.set_route_localnet("br0").unwrap());
        let e = s.set_route_localnet("nosuch0").unwrap_err().to_string();
        assert!(
            e.starts_with("read net.ipv4.conf.nosuch0.route_localnet: "),
            "{e}"
        );
        let e = s.set_route_localnet("../x").unwrap_err().to_string();
        assert!(
            e.starts_with("set net.ipv4.conf.../x.route_localnet: invalid interface name"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
