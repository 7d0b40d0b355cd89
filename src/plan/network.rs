//! What a project's networks should be and how a container joins them, as data: the checked
//! form of a top-level `networks:` entry (compose `create.go` `resolveOrCreateNetwork`,
//! Docker's bridge driver options), and a service's attachments in the order Docker gives
//! them interfaces (priority, then name) with their aliases and fixed addresses.
//!
//! Pure: `app` allocates subnets and addresses, writes the records and makes the links.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::labels;
use super::up::resource_name;
use crate::model::types::{Project, ServiceConfig};

/// `driver_opts` key of the bridge's name (Docker's).
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// `driver_opts` key of the MTU (Docker's).
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
/// compose's network label: the key in the file.
pub const NETWORK_LABEL: &str = "com.docker.compose.network";

/// A top-level network as berth should make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantedNetwork {
    /// The key in the file.
    pub key: String,
    /// The name it is made under: `name:`, else `<project>_<key>`.
    pub name: String,
    /// `com.docker.network.bridge.name`, when set.
    pub bridge: Option<String>,
    pub mtu: Option<u32>,
    /// `ipam.config`, in order.
    pub pools: Vec<WantedPool>,
    pub internal: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
}

/// One `ipam.config` entry, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantedPool {
    pub subnet: IpNet,
    pub gateway: Option<IpAddr>,
    pub range: Option<IpNet>,
}

/// The name network `key` of `project` is made or found under (`external` ones by their
/// `name:` or key).
pub fn network_name(project: &Project, key: &str) -> String {
    match project.networks.get(key) {
        Some(n) if n.external => {
            if n.name.is_empty() {
                key.to_owned()
            } else {
                n.name.clone()
            }
        }
        Some(n) => resource_name(&project.name, key, &n.name),
        None => resource_name(&project.name, key, ""),
    }
}

/// The network `key` of `project` names, checked; the error names the network and the key.
pub fn wanted_network(
    project: &Project,
    key: &str,
    version: &str,
) -> Result<WantedNetwork, String> {
    let cfg = project.networks.get(key).cloned().unwrap_or_default();
    let name = network_name(project, key);
    let fail = |what: String| format!("network {key}: {what}");
    if !cfg.driver.is_empty() && cfg.driver != "bridge" {
        return Err(fail(format!(
            "driver {:?} is not supported by berth (only bridge networks)",
            cfg.driver
        )));
    }
    if !cfg.ipam.driver.is_empty() && cfg.ipam.driver != "default" {
        return Err(fail(format!(
            "ipam driver {:?} is not supported by berth (only default)",
            cfg.ipam.driver
        )));
    }
    let mut bridge = None;
    let mut mtu = None;
    for (k, v) in cfg.driver_opts.iter() {
        match k.as_str() {
            OPT_BRIDGE_NAME => {
                if v.is_empty()
                    || v.len() > 15
                    || v.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
                {
                    return Err(fail(format!(
                        "driver_opts {k}: invalid interface name {v:?} (1 to 15 bytes, no '/', ':' or space)"
                    )));
                }
                bridge = Some(v.clone());
            }
            OPT_MTU => {
                let m: u32 = v
                    .parse()
                    .ok()
                    .filter(|m| (68..=65535).contains(m))
                    .ok_or_else(|| fail(format!("driver_opts {k}: invalid MTU {v:?}")))?;
                mtu = Some(m);
            }
            _ => {}
        }
    }
    let mut pools = Vec::new();
    for (i, p) in cfg.ipam.config.iter().enumerate() {
        let at = |field: &str| format!("ipam.config[{i}].{field}");
        if p.subnet.is_empty() {
            return Err(fail(format!("{}: a subnet is required", at("subnet"))));
        }
        let subnet: IpNet = p.subnet.parse().map_err(|_| {
            fail(format!(
                "{}: invalid CIDR address: {}",
                at("subnet"),
                p.subnet
            ))
        })?;
        let gateway = match p.gateway.as_str() {
            "" => None,
            g => Some(
                g.parse::<IpAddr>()
                    .map_err(|_| fail(format!("{}: invalid IP address: {g}", at("gateway"))))?,
            ),
        };
        let range = match p.ip_range.as_str() {
            "" => None,
            r => Some(
                r.parse::<IpNet>()
                    .map_err(|_| fail(format!("{}: invalid CIDR address: {r}", at("ip_range"))))?,
            ),
        };
        pools.push(WantedPool {
            subnet,
            gateway,
            range,
        });
    }
    let enable_ipv6 = cfg.enable_ipv6.unwrap_or(false);
    if enable_ipv6 && !pools.iter().any(|p| p.subnet.addr().is_ipv6()) {
        return Err(fail(
            "enable_ipv6 needs an IPv6 subnet in ipam.config (berth has no default IPv6 pool)"
                .into(),
        ));
    }
    if !enable_ipv6 && pools.iter().any(|p| p.subnet.addr().is_ipv6()) {
        return Err(fail(
            "an IPv6 subnet is given but enable_ipv6 is not set".into(),
        ));
    }
    let mut labels: BTreeMap<String, String> = cfg
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(NETWORK_LABEL.into(), key.to_owned());
    labels.insert(labels::PROJECT.into(), project.name.clone());
    labels.insert(labels::VERSION.into(), version.to_owned());
    Ok(WantedNetwork {
        key: key.to_owned(),
        name,
        bridge,
        mtu,
        pools,
        internal: cfg.internal,
        enable_ipv6,
        labels,
    })
}

/// How one container joins one network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The key in the file and the name the network has.
    pub key: String,
    pub network: String,
    /// eth0, eth1, ... in Docker's order.
    pub ifname: String,
    /// The service's `aliases` on this network.
    pub aliases: Vec<String>,
    pub ipv4: Option<IpAddr>,
    pub ipv6: Option<IpAddr>,
    pub mac: Option<[u8; 6]>,
}

/// The networks a container of `s` joins, highest `priority` first then by key (compose's
/// order), each with its interface name. Empty for `network_mode` other than bridge.
pub fn attachments(project: &Project, s: &ServiceConfig) -> Result<Vec<Attachment>, String> {
    let mode = if s.network_mode.is_empty() {
        s.net.as_str()
    } else {
        s.network_mode.as_str()
    };
    if !matches!(mode, "" | "bridge" | "default") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (i, key) in s.networks_by_priority().into_iter().enumerate() {
        let cfg = s.networks.get(&key).cloned().flatten().unwrap_or_default();
        let fail = |what: String| format!("service {:?}: networks.{key}.{what}", s.name);
        let addr = |field: &str, v: &str, v6: bool| -> Result<Option<IpAddr>, String> {
            if v.is_empty() {
                return Ok(None);
            }
            match v.parse::<IpAddr>() {
                Ok(a) if a.is_ipv6() == v6 => Ok(Some(a)),
                _ => Err(fail(format!("{field}: invalid address {v:?}"))),
            }
        };
        let ipv4 = addr("ipv4_address", &cfg.ipv4_address, false)?;
        let ipv6 = addr("ipv6_address", &cfg.ipv6_address, true)?;
        // the per-network `mac_address`, else the service's (for its first network)
        let mac_text = if !cfg.mac_address.is_empty() {
            cfg.mac_address.clone()
        } else if i == 0 {
            s.mac_address.clone()
        } else {
            String::new()
        };
        let mac = match mac_text.as_str() {
            "" => None,
            m => Some(
                parse_mac(m)
                    .ok_or_else(|| fail(format!("mac_address: invalid MAC address {m:?}")))?,
            ),
        };
        out.push(Attachment {
            network: network_name(project, &key),
            ifname: format!("eth{i}"),
            aliases: cfg.aliases.clone(),
            key,
            ipv4,
            ipv6,
            mac,
        });
    }
    Ok(out)
}

/// `aa:bb:cc:dd:ee:ff` (or with dashes).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

/// Docker's MAC for an IPv4 address when none is given: 02:42 and the four address bytes
/// (locally administered, stable across restarts).
pub fn mac_for(addr: IpAddr) -> [u8; 6] {
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            [0x02, 0x42, o[0], o[1], o[2], o[3]]
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            [0x02, 0x42, o[12], o[13], o[14], o[15]]
        }
    }
}

/// The names a container answers to on a network: its service, its name, its hostname when
/// set, and the service's aliases there; each once.
pub fn dns_names(service: &str, container: &str, s: &ServiceConfig, a: &Attachment) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        if !n.is_empty() && !out.iter().any(|o| o == n) {
            out.push(n.to_owned());
        }
    };
    add(service);
    add(container);
    add(&s.hostname);
    for alias in &a.aliases {
        add(alias);
    }
    out
}

/// A service's `links:` as (alias, target service): `db` links as db, `db:database` as both
/// (Docker resolves both names for the linking container).
pub fn links(s: &ServiceConfig) -> Vec<(String, String)> {
    s.links
        .iter()
        .map(|l| match l.split_once(':') {
            Some((target, alias)) => (alias.to_owned(), target.to_owned()),
            None => (l.clone(), l.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{IpamPool, NetworkConfig, ServiceNetworkConfig};

    fn project() -> Project {
        let mut p = Project {
            name: "shop".into(),
            ..Default::default()
        };
        p.networks
            .insert("default".into(), NetworkConfig::default());
        p
    }

    #[test]
    fn names_follow_compose() {
        let mut p = project();
        p.networks.insert(
            "ext".into(),
            NetworkConfig {
                external: true,
                ..Default::default()
            },
        );
        p.networks.insert(
            "named".into(),
            NetworkConfig {
                name: "custom".into(),
                ..Default::default()
            },
        );
        assert_eq!(network_name(&p, "default"), "shop_default");
        assert_eq!(network_name(&p, "ext"), "ext");
        assert_eq!(network_name(&p, "named"), "custom");
    }

    #[test]
    fn wanted_network_parses_options_and_pools() {
        let mut p = project();
        let mut cfg = NetworkConfig {
            internal: true,
            enable_ipv6: Some(true),
            ..Default::default()
        };
        cfg.driver_opts
            .insert(OPT_BRIDGE_NAME.into(), "br-shop".into());
        cfg.driver_opts.insert(OPT_MTU.into(), "1400".into());
        cfg.ipam.config = vec![
            IpamPool {
                subnet: "10.250.1.0/24".into(),
                gateway: "10.250.1.254".into(),
                ip_range: "10.250.1.128/25".into(),
                ..Default::default()
            },
            IpamPool {
                subnet: "fd00:b50::/64".into(),
                ..Default::default()
            },
        ];
        p.networks.insert("back".into(), cfg);
        let w = wanted_network(&p, "back", "1.0").unwrap();
        assert_eq!(w.name, "shop_back");
        assert_eq!(w.bridge.as_deref(), Some("br-shop"));
        assert_eq!(w.mtu, Some(1400));
        assert!(w.internal && w.enable_ipv6);
        assert_eq!(w.pools.len(), 2);
        assert_eq!(w.pools[0].gateway, Some("10.250.1.254".parse().unwrap()));
        assert_eq!(w.pools[0].range, Some("10.250.1.128/25".parse().unwrap()));
        assert_eq!(w.labels[NETWORK_LABEL], "back");
        assert_eq!(w.labels[labels::PROJECT], "shop");
    }

    #[test]
    fn bad_networks_name_the_key() {
        let mut p = project();
        let mut cfg = NetworkConfig::default();
        cfg.ipam.config = vec![IpamPool {
            subnet: "10.0.0.0/33".into(),
            ..Default::default()
        }];
        p.networks.insert("bad".into(), cfg);
        assert_eq!(
            wanted_network(&p, "bad", "1").unwrap_err(),
            "network bad: ipam.config[0].subnet: invalid CIDR address: 10.0.0.0/33"
        );
        p.networks.insert(
            "ov".into(),
            NetworkConfig {
                driver: "overlay".into(),
                ..Default::default()
            },
        );
        assert!(wanted_network(&p, "ov", "1")
            .unwrap_err()
            .contains("driver \"overlay\" is not supported"));
        p.networks.insert(
            "v6".into(),
            NetworkConfig {
                enable_ipv6: Some(true),
                ..Default::default()
            },
        );
        assert!(wanted_network(&p, "v6", "1")
            .unwrap_err()
            .contains("enable_ipv6 needs an IPv6 subnet"));
    }

    #[test]
    fn attachments_in_priority_then_name_order() {
        let p = project();
        let mut s = ServiceConfig {
            name: "web".into(),
            ..Default::default()
        };
        s.networks.insert("zeta".into(), None);
        s.networks.insert(
            "alpha".into(),
            Some(ServiceNetworkConfig {
                aliases: vec!["www".into()],
                ipv4_address: "10.250.0.9".into(),
                ..Default::default()
            }),
        );
        s.networks.insert(
            "top".into(),
            Some(ServiceNetworkConfig {
                priority: 10,
                mac_address: "02:00:00:00:00:01".into(),
                ..Default::default()
            }),
        );
        let a = attachments(&p, &s).unwrap();
        let order: Vec<_> = a
            .iter()
            .map(|a| (a.key.as_str(), a.ifname.as_str()))
            .collect();
        assert_eq!(
            order,
            [("top", "eth0"), ("alpha", "eth1"), ("zeta", "eth2")]
        );
        assert_eq!(a[0].mac, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(a[1].ipv4, Some("10.250.0.9".parse().unwrap()));
        assert_eq!(a[1].network, "shop_alpha");
        assert_eq!(
            dns_names("web", "shop-web-1", &s, &a[1]),
            ["web", "shop-web-1", "www"]
        );
        s.network_mode = "host".into();
        assert!(attachments(&p, &s).unwrap().is_empty());
        s.network_mode = String::new();
        s.networks.insert(
            "alpha".into(),
            Some(ServiceNetworkConfig {
                ipv4_address: "fd00::1".into(),
                ..Default::default()
            }),
        );
        assert_eq!(
            attachments(&p, &s).unwrap_err(),
            "service \"web\": networks.alpha.ipv4_address: invalid address \"fd00::1\""
        );
    }

    #[test]
    fn macs_and_links() {
        assert_eq!(
            mac_for("172.18.0.2".parse().unwrap()),
            [0x02, 0x42, 172, 18, 0, 2]
        );
        assert_eq!(
            parse_mac("02-42-ac-11-00-02"),
            Some([2, 0x42, 0xac, 0x11, 0, 2])
        );
        assert_eq!(parse_mac("02:42"), None);
        let s = ServiceConfig {
            links: vec!["db".into(), "cache:redis".into()],
            ..Default::default()
        };
        assert_eq!(
            links(&s),
            [
                ("db".to_string(), "db".to_string()),
                ("redis".to_string(), "cache".to_string())
            ]
        );
    }
}
