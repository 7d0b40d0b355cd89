//! A berth bridge network as a CNI network configuration list (conflist, CNI spec 1.0.0): the
//! `bridge` plugin (berth's bridge, gateway, masquerade unless internal, MTU) with `host-local`
//! IPAM (the network's subnets, gateways and `ip_range`s), then `portmap` for published ports.
//! berth does not run these plugins (it does the same over netlink and nftables); it writes the
//! conflist under `<lib_dir>/cni/net.d/` so operators and other tools can read what a network
//! is. cni/README.md gives the mapping from compose keys, field by field.
//!
//! [`render`] is pure; [`write`] and [`remove`] are the only file operations. Knows nothing of
//! compose: `app` passes the network as plain data.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Serialize;

/// The CNI spec version of the conflists berth writes.
pub const CNI_VERSION: &str = "1.0.0";

/// A network as the conflist needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CniNetwork {
    /// The network's full name (`<project>_<key>` unless `name:` says otherwise); also the
    /// file name.
    pub name: String,
    /// The Linux bridge berth made for it.
    pub bridge: String,
    pub subnets: Vec<CniSubnet>,
    /// `internal: true`: no masquerade and no default route out.
    pub internal: bool,
    /// `driver_opts` `com.docker.network.driver.mtu`; None leaves the bridge's own.
    pub mtu: Option<u32>,
    /// The network's labels, kept in the conflist's `berthLabels` (CNI has no place for them;
    /// plugins ignore keys they do not know).
    pub labels: BTreeMap<String, String>,
}

/// One `ipam.config` entry, as berth allocated or the file gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CniSubnet {
    pub subnet: IpNet,
    pub gateway: Option<IpAddr>,
    /// `ip_range`: containers get addresses from this part of the subnet only.
    pub ip_range: Option<IpNet>,
}

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    /// The file name is the network's name; one that is not a plain file name cannot be used.
    #[error("network {0:?}: cannot name a CNI conflist after it")]
    BadName(String),
    #[error("network {network:?}: ip_range {range} is not inside subnet {subnet}")]
    RangeOutside {
        network: String,
        subnet: IpNet,
        range: IpNet,
    },
    #[error("write CNI conflist of network {network:?}: {source}")]
    Write {
        network: String,
        source: crate::state::StateError,
    },
    #[error("remove CNI conflist {}: {source}", path.display())]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Conflist<'a> {
    cni_version: &'static str,
    name: &'a str,
    plugins: (Bridge<'a>, Portmap),
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    berth_labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bridge<'a> {
    r#type: &'static str,
    bridge: &'a str,
    is_gateway: bool,
    ip_masq: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    ipam: Ipam,
}

#[derive(Serialize)]
struct Ipam {
    r#type: &'static str,
    /// One range set per subnet: host-local hands out one address from each set.
    ranges: Vec<[Range; 1]>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Range {
    subnet: IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    range_start: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range_end: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
}

#[derive(Serialize)]
struct Route {
    dst: IpNet,
}

#[derive(Serialize)]
struct Portmap {
    r#type: &'static str,
    capabilities: PortmapCapabilities,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PortmapCapabilities {
    port_mappings: bool,
}

/// The conflist of `net`, as pretty JSON ending in a newline.
pub fn render(net: &CniNetwork) -> Result<String, CniError> {
    let mut ranges = Vec::with_capacity(net.subnets.len());
    let mut routes: Vec<Route> = Vec::new();
    for s in &net.subnets {
        let (range_start, range_end) = match s.ip_range {
            None => (None, None),
            Some(r) => {
                let (first, last) =
                    usable(&s.subnet, &r).ok_or_else(|| CniError::RangeOutside {
                        network: net.name.clone(),
                        subnet: s.subnet,
                        range: r,
                    })?;
                (Some(first), Some(last))
            }
        };
        ranges.push([Range {
            subnet: s.subnet.trunc(),
            range_start,
            range_end,
            gateway: s.gateway,
        }]);
        // the default route out, once per address family, unless the network is internal
        let default: IpNet = match s.subnet {
            // the defaults are 0.0.0.0/0 and ::/0
            IpNet::V4(_) => IpNet::V4(ipnet::Ipv4Net::default()),
            IpNet::V6(_) => IpNet::V6(ipnet::Ipv6Net::default()),
        };
        if !net.internal && !routes.iter().any(|r| r.dst == default) {
            routes.push(Route { dst: default });
        }
    }
    let list = Conflist {
        cni_version: CNI_VERSION,
        name: &net.name,
        plugins: (
            Bridge {
                r#type: "bridge",
                bridge: &net.bridge,
                is_gateway: true,
                ip_masq: !net.internal,
                mtu: net.mtu,
                ipam: Ipam {
                    r#type: "host-local",
                    ranges,
                    routes,
                },
            },
            Portmap {
                r#type: "portmap",
                capabilities: PortmapCapabilities {
                    port_mappings: true,
                },
            },
        ),
        berth_labels: &net.labels,
    };
    // plain structs of strings, numbers and addresses always serialize
    let mut text = serde_json::to_string_pretty(&list).unwrap_or_default();
    text.push('\n');
    Ok(text)
}

/// The first and last address host-local may hand out from `range` inside `subnet`: never the
/// subnet's own network address, nor its IPv4 broadcast address. None when `range` is not
/// inside `subnet` or leaves nothing.
fn usable(subnet: &IpNet, range: &IpNet) -> Option<(IpAddr, IpAddr)> {
    if !subnet.contains(range) {
        return None;
    }
    let (sub_lo, sub_hi) = (to_u128(subnet.network()), to_u128(subnet.broadcast()));
    let mut first = to_u128(range.network());
    let mut last = to_u128(range.broadcast());
    if first == sub_lo {
        first += 1;
    }
    if subnet.network().is_ipv4() && last == sub_hi {
        last = last.checked_sub(1)?;
    }
    (first <= last).then(|| {
        let v4 = subnet.network().is_ipv4();
        (from_u128(first, v4), from_u128(last, v4))
    })
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(n: u128, v4: bool) -> IpAddr {
    if v4 {
        // n came from an IPv4 address, so it fits
        IpAddr::V4(u32::try_from(n).unwrap_or(u32::MAX).into())
    } else {
        IpAddr::V6(n.into())
    }
}

/// `<lib_dir>/cni/net.d/<network>.conflist`.
pub fn path(lib: &Path, network: &str) -> Result<PathBuf, CniError> {
    if network.is_empty()
        || network.starts_with('.')
        || network.contains('/')
        || network.contains('\0')
    {
        return Err(CniError::BadName(network.to_owned()));
    }
    Ok(lib
        .join("cni")
        .join("net.d")
        .join(format!("{network}.conflist")))
}

/// Writes (or replaces, atomically) the conflist of `net`; returns its path.
pub fn write(lib: &Path, net: &CniNetwork) -> Result<PathBuf, CniError> {
    let path = path(lib, &net.name)?;
    let text = render(net)?;
    crate::state::write_atomic(&path, text.as_bytes(), 0o644).map_err(|source| {
        CniError::Write {
            network: net.name.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// Removes the conflist of `network`; one already gone is fine (`down` run twice).
pub fn remove(lib: &Path, network: &str) -> Result<(), CniError> {
    let path = path(lib, network)?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CniError::Remove { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(s: &str, gw: Option<&str>, range: Option<&str>) -> CniSubnet {
        CniSubnet {
            subnet: s.parse().unwrap(),
            gateway: gw.map(|g| g.parse().unwrap()),
            ip_range: range.map(|r| r.parse().unwrap()),
        }
    }

    fn net() -> CniNetwork {
        CniNetwork {
            name: "shop_backend".into(),
            bridge: "br-3f2a9c01d4e5".into(),
            subnets: vec![
                subnet("172.28.0.0/16", Some("172.28.5.254"), Some("172.28.5.0/24")),
                subnet("fd00:b52:1::/64", Some("fd00:b52:1::1"), None),
            ],
            internal: false,
            mtu: Some(1450),
            labels: [("com.example.tier".to_string(), "back".to_string())].into(),
        }
    }

    /// The network cni/fixtures/shop_backend.conflist shows (the README's example).
    #[test]
    fn renders_bridge_host_local_and_portmap() {
        assert_eq!(
            render(&net()).unwrap(),
            include_str!("../../cni/fixtures/shop_backend.conflist")
        );
    }

    #[test]
    fn internal_networks_have_no_masquerade_and_no_default_route() {
        let n = CniNetwork {
            name: "p_internal".into(),
            bridge: "br-0011".into(),
            subnets: vec![subnet("10.252.7.0/24", Some("10.252.7.1"), None)],
            internal: true,
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_str(&render(&n).unwrap()).unwrap();
        let bridge = &v["plugins"][0];
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["isGateway"], true);
        assert!(bridge.get("mtu").is_none());
        assert!(bridge["ipam"].get("routes").is_none());
        assert!(v.get("berthLabels").is_none());
        assert_eq!(
            bridge["ipam"]["ranges"],
            serde_json::json!([[{"subnet": "10.252.7.0/24", "gateway": "10.252.7.1"}]])
        );
    }

    #[test]
    fn ranges_skip_the_network_and_broadcast_addresses() {
        let r = |s: &str, r: &str| {
            usable(&s.parse().unwrap(), &r.parse().unwrap()).map(|(a, b)| format!("{a}-{b}"))
        };
        assert_eq!(
            r("10.0.0.0/24", "10.0.0.0/25").unwrap(),
            "10.0.0.1-10.0.0.127"
        );
        assert_eq!(
            r("10.0.0.0/24", "10.0.0.128/25").unwrap(),
            "10.0.0.128-10.0.0.254"
        );
        assert_eq!(
            r("10.0.0.0/24", "10.0.0.0/24").unwrap(),
            "10.0.0.1-10.0.0.254"
        );
        assert_eq!(r("fd00::/64", "fd00::/120").unwrap(), "fd00::1-fd00::ff");
        assert_eq!(r("10.0.0.0/24", "10.0.1.0/25"), None);
        let mut n = net();
        n.subnets[0].ip_range = Some("10.9.0.0/24".parse().unwrap());
        assert_eq!(
            render(&n).unwrap_err().to_string(),
            "network \"shop_backend\": ip_range 10.9.0.0/24 is not inside subnet 172.28.0.0/16"
        );
    }

    #[test]
    fn written_under_lib_dir_and_removed() {
        let lib = std::env::temp_dir().join(format!("berth-cni-{}", std::process::id()));
        let n = net();
        let p = write(&lib, &n).unwrap();
        assert_eq!(p, lib.join("cni/net.d/shop_backend.conflist"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), render(&n).unwrap());
        // written again (a changed network) it is replaced whole
        let mut changed = n.clone();
        changed.mtu = None;
        write(&lib, &changed).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            render(&changed).unwrap()
        );
        remove(&lib, "shop_backend").unwrap();
        assert!(!p.exists());
        remove(&lib, "shop_backend").unwrap();
        assert!(matches!(path(&lib, "../x"), Err(CniError::BadName(_))));
        assert!(matches!(path(&lib, ".hidden"), Err(CniError::BadName(_))));
        std::fs::remove_dir_all(&lib).unwrap();
    }
}
