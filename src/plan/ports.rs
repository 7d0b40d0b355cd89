//! Published and exposed ports as data: what a service's `ports:` / `expose:` (or `run -p` /
//! `--service-ports`) ask for ([`Publish`]), the checks compose and the Docker engine make before
//! any container starts (a fixed host port on a scaled service, two services on one host port),
//! the record of what berth actually published on a container (the [`PORTS_LABEL`] label), and
//! how `ps` / `port` show that record (docker/cli `DisplayablePorts`).
//!
//! Pure: no sockets. Choosing a free host port is `app::hostports`'s job; the result goes back in
//! here as a [`PortRecord`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::model::canonical::parse_port_spec;
use crate::model::types::{Project, ServiceConfig, ServicePortConfig};

/// The container label holding what berth published on the container: the JSON of a list of
/// [`PortRecord`]s, written by [`encode`] and read by [`decode`]. Example:
///
/// ```text
/// [{"host_port":8080,"container_port":80,"proto":"tcp"},
///  {"host_ip":"127.0.0.1","host_port":9000,"container_port":9000,"proto":"udp"},
///  {"host_port":7000,"container_port":7000,"proto":"tcp","count":3},
///  {"container_port":3000,"proto":"tcp"}]
/// ```
///
/// - no `host_ip`: all host addresses (Docker's `0.0.0.0` and `::`);
/// - no `host_port`: exposed only, nothing on the host;
/// - `count` (absent means 1): that many consecutive host and container ports, so that a
///   published range fits in containerd's 4096-byte label limit.
pub const PORTS_LABEL: &str = "berth.ports";

/// containerd refuses a label whose key and value together exceed this (`labels.Validate`).
const LABEL_LIMIT: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where on the host a container port goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostPort {
    /// `8080:80`.
    Fixed(u16),
    /// `8000-8010:80`: the first free port of the range (inclusive).
    Range(u16, u16),
    /// `80` or `127.0.0.1::80`: any free port the host gives.
    Random,
}

/// The host side of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSide {
    /// None: all host addresses.
    pub ip: Option<IpAddr>,
    pub port: HostPort,
}

/// One container port a service asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish {
    pub container_port: u16,
    pub proto: Proto,
    /// None: exposed only (`expose:`, or `ports:` of a container that publishes nothing).
    pub host: Option<HostSide>,
}

impl Publish {
    /// The fixed host binding, when the host port is fixed.
    pub fn fixed(&self) -> Option<HostBinding> {
        match self.host {
            Some(HostSide {
                ip,
                port: HostPort::Fixed(port),
            }) => Some(HostBinding {
                ip,
                port,
                proto: self.proto,
            }),
            _ => None,
        }
    }

    /// The record once the caller has chosen `host_port` (ignored for an exposed port).
    pub fn resolve(&self, host_port: u16) -> PortRecord {
        PortRecord {
            host_ip: self.host.and_then(|h| h.ip),
            host_port: self.host.map(|_| host_port),
            container_port: self.container_port,
            proto: self.proto,
            count: 1,
        }
    }
}

/// One host address, port and protocol: what must be free on the host, what the firewall
/// forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostBinding {
    /// None: all host addresses.
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub proto: Proto,
}

impl HostBinding {
    /// Whether a socket on `self` and one on `other` could not both exist: same protocol and
    /// port, and addresses that overlap (an unspecified address covers its family; None covers
    /// both).
    pub fn overlaps(&self, other: &HostBinding) -> bool {
        if self.proto != other.proto || self.port != other.port {
            return false;
        }
        match (self.ip, other.ip) {
            (None, _) | (_, None) => true,
            (Some(a), Some(b)) => {
                a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
            }
        }
    }
}

impl HostBinding {
    /// `0.0.0.0:8080` (all addresses named as Docker's engine names them), `[::1]:53`.
    pub fn addr(&self) -> String {
        match self.ip {
            None => format!("0.0.0.0:{}", self.port),
            Some(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            Some(IpAddr::V4(ip)) => format!("{ip}:{}", self.port),
        }
    }
}

impl fmt::Display for HostBinding {
    /// `0.0.0.0:8080/tcp`, `[::1]:53/udp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.proto)
    }
}

/// What berth published for one container port (see [`PORTS_LABEL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub proto: Proto,
    /// Consecutive ports folded into one entry by [`encode`]; [`decode`] unfolds them, so it is
    /// 1 everywhere else.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub count: u16,
}

fn one() -> u16 {
    1
}

fn is_one(n: &u16) -> bool {
    *n == 1
}

impl PortRecord {
    /// The host binding, for a published port.
    pub fn binding(&self) -> Option<HostBinding> {
        self.host_port.map(|port| HostBinding {
            ip: self.host_ip,
            port,
            proto: self.proto,
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    /// A `ports:` / `expose:` entry or `-p` value berth cannot publish; `message` is Docker's
    /// text where Docker has one (`invalid hostPort: abc`).
    #[error("service {service:?}: {key}: {message}")]
    Invalid {
        service: String,
        key: String,
        message: String,
    },
    /// Docker Compose 2.26 has no such check: it creates the containers and the engine refuses
    /// to start the second one with `Bind for 0.0.0.0:8080 failed: port is already allocated`
    /// (libnetwork `portallocator.ErrPortAlreadyAllocated`). berth says it before anything starts.
    #[error("service {service:?} has {scale} containers but publishes the fixed host port {binding}: Bind for {addr} failed: port is already allocated (publish a host port range, or the container port alone, to scale it)", addr = binding.addr())]
    ScaledFixedPort {
        service: String,
        scale: i64,
        binding: HostBinding,
    },
    /// A host port range smaller than the number of containers: the engine would fail the same
    /// way on the first container that finds none free.
    #[error("service {service:?} has {scale} containers but its host port range {first}-{last} for {container_port}/{proto} has only {} ports", u32::from(*last) - u32::from(*first) + 1)]
    ScaledRange {
        service: String,
        scale: i64,
        first: u16,
        last: u16,
        container_port: u16,
        proto: Proto,
    },
    /// Two services (or one twice) on one host address, port and protocol.
    #[error("{} publish the same host port {binding}: Bind for {} failed: port is already allocated", if first == second { format!("service {first:?} would twice") } else { format!("services {first:?} and {second:?}") }, binding.addr())]
    Conflict {
        first: String,
        second: String,
        binding: HostBinding,
    },
    #[error("cannot record the ports of {container}: {} entries take {size} bytes, over containerd's {LABEL_LIMIT}-byte label limit", records)]
    TooLong {
        container: String,
        records: usize,
        size: usize,
    },
    #[error("label {PORTS_LABEL} of {container}: {message}")]
    BadLabel { container: String, message: String },
}

/// The ports a service's containers ask for: `ports:` (as normalized: one entry per container
/// port) then `expose:` entries not already published, as compose's `buildContainerPorts` and
/// `buildContainerPortBindingOptions` hand them to the engine.
pub fn service_ports(service: &str, s: &ServiceConfig) -> Result<Vec<Publish>, PortError> {
    let mut out = Vec::new();
    for (i, p) in s.ports.iter().enumerate() {
        out.push(from_config(service, &format!("ports[{i}]"), p)?);
    }
    add_exposed(service, s, &mut out)?;
    Ok(out)
}

/// The ports of a `run` one-off: the service's own with `--service-ports`, else the `-p` values
/// (compose `runOptions.apply` replaces `ports:` with them, parsed by compose-go
/// `types.ParsePortConfig`); `expose:` applies either way.
pub fn run_ports(
    service: &str,
    s: &ServiceConfig,
    publish: &[String],
    service_ports: bool,
) -> Result<Vec<Publish>, PortError> {
    if service_ports {
        return self::service_ports(service, s);
    }
    let mut out = Vec::new();
    for p in publish {
        let invalid = |message: String| PortError::Invalid {
            service: service.to_owned(),
            key: format!("--publish {p}"),
            message,
        };
        for m in parse_port_spec(p).map_err(invalid)? {
            let c = ServicePortConfig {
                mode: "ingress".into(),
                host_ip: m.host_ip,
                target: u32::from(m.target),
                published: m.published,
                protocol: m.protocol,
                ..Default::default()
            };
            out.push(from_config(service, &format!("--publish {p}"), &c)?);
        }
    }
    add_exposed(service, s, &mut out)?;
    Ok(out)
}

fn from_config(service: &str, key: &str, p: &ServicePortConfig) -> Result<Publish, PortError> {
    let invalid = |message: String| PortError::Invalid {
        service: service.to_owned(),
        key: key.to_owned(),
        message,
    };
    let proto = proto(&p.protocol).map_err(invalid)?;
    let container_port = match u16::try_from(p.target) {
        Ok(0) | Err(_) => return Err(invalid(format!("invalid containerPort: {}", p.target))),
        Ok(n) => n,
    };
    let ip = match p.host_ip.trim_start_matches('[').trim_end_matches(']') {
        "" => None,
        ip => Some(
            ip.parse::<IpAddr>()
                .map_err(|_| invalid(format!("Invalid ip address: {ip}")))?,
        ),
    };
    let port = match p.published.as_str() {
        "" => HostPort::Random,
        published => match range(published) {
            Some((a, b)) if a == b => HostPort::Fixed(a),
            Some((a, b)) => HostPort::Range(a, b),
            None => return Err(invalid(format!("invalid hostPort: {published}"))),
        },
    };
    Ok(Publish {
        container_port,
        proto,
        host: Some(HostSide { ip, port }),
    })
}

/// `expose:` entries (`80`, `80/udp`, `8000-8002`), each port of a range on its own as
/// `docker run --expose` does, skipping ports already listed.
fn add_exposed(service: &str, s: &ServiceConfig, out: &mut Vec<Publish>) -> Result<(), PortError> {
    for (i, e) in s.expose.iter().enumerate() {
        let invalid = |message: String| PortError::Invalid {
            service: service.to_owned(),
            key: format!("expose[{i}]"),
            message,
        };
        let (ports, proto) = match e.split_once('/') {
            Some((ports, p)) => (ports, self::proto(p).map_err(invalid)?),
            None => (e.as_str(), Proto::Tcp),
        };
        let Some((a, b)) = range(ports).filter(|(a, _)| *a != 0) else {
            return Err(invalid(format!("invalid range format for --expose: {e}")));
        };
        for port in a..=b {
            if !out
                .iter()
                .any(|p| p.container_port == port && p.proto == proto)
            {
                out.push(Publish {
                    container_port: port,
                    proto,
                    host: None,
                });
            }
        }
    }
    Ok(())
}

fn proto(p: &str) -> Result<Proto, String> {
    match p.to_ascii_lowercase().as_str() {
        "" | "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        "sctp" => Err("protocol sctp is not supported by berth (tcp and udp are)".into()),
        other => Err(format!("invalid proto: {other}")),
    }
}

/// `8080` or `8080-8090` (decimal, no sign, end not below start).
fn range(s: &str) -> Option<(u16, u16)> {
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    match s.split_once('-') {
        None => num(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some((a, b))
        }
    }
}

/// The checks before anything starts: a fixed host port on a service with more than one
/// container, a host range smaller than the number of containers, and two services (or one
/// service twice) on one host address, port and protocol. `services` gives each service's
/// number of containers and ports, in the order errors should look at them.
pub fn check(services: &[(&str, i64, &[Publish])]) -> Result<(), PortError> {
    for (service, scale, ports) in services {
        if *scale <= 1 {
            continue;
        }
        for p in ports.iter() {
            if let Some(binding) = p.fixed() {
                return Err(PortError::ScaledFixedPort {
                    service: (*service).to_owned(),
                    scale: *scale,
                    binding,
                });
            }
            if let Some(HostSide {
                port: HostPort::Range(first, last),
                ..
            }) = p.host
            {
                if i64::from(last) - i64::from(first) + 1 < *scale {
                    return Err(PortError::ScaledRange {
                        service: (*service).to_owned(),
                        scale: *scale,
                        first,
                        last,
                        container_port: p.container_port,
                        proto: p.proto,
                    });
                }
            }
        }
    }
    let mut seen: Vec<(&str, HostBinding)> = Vec::new();
    for (service, scale, ports) in services {
        if *scale < 1 {
            continue;
        }
        for b in ports.iter().filter_map(Publish::fixed) {
            if let Some((first, _)) = seen.iter().find(|(_, s)| s.overlaps(&b)) {
                return Err(PortError::Conflict {
                    first: (*first).to_owned(),
                    second: (*service).to_owned(),
                    binding: b,
                });
            }
            seen.push((service, b));
        }
    }
    Ok(())
}

/// [`check`] for the services `up` starts: `services` (all when empty), each with `--scale`'s
/// number if given, else its own (`scale`, `deploy.replicas`, 1). Also fails on the first
/// `ports:` / `expose:` entry berth cannot publish.
pub fn check_project(
    project: &Project,
    services: &[String],
    scale: &BTreeMap<String, i64>,
) -> Result<(), PortError> {
    let mut all = Vec::new();
    for (name, s) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let n = scale.get(name).copied().unwrap_or_else(|| s.get_scale());
        all.push((name.as_str(), n, service_ports(name, s)?));
    }
    let view: Vec<(&str, i64, &[Publish])> =
        all.iter().map(|(n, k, p)| (*n, *k, p.as_slice())).collect();
    check(&view)
}

/// The label value for `records` (see [`PORTS_LABEL`]): runs of consecutive host and container
/// ports with the same address and protocol folded into one entry.
pub fn encode(container: &str, records: &[PortRecord]) -> Result<String, PortError> {
    let mut folded: Vec<PortRecord> = Vec::new();
    for r in records {
        if let Some(last) = folded.last_mut() {
            let next = |p: Option<u16>, n: u16| p.and_then(|p| p.checked_add(n));
            if last.host_ip == r.host_ip
                && last.proto == r.proto
                && last.host_port.is_some() == r.host_port.is_some()
                && next(last.host_port, last.count) == r.host_port
                && last.container_port.checked_add(last.count) == Some(r.container_port)
                && last.count < u16::MAX
            {
                last.count += r.count;
                continue;
            }
        }
        folded.push(*r);
    }
    // serializing plain structs of numbers, strings and addresses cannot fail
    let value = serde_json::to_string(&folded).unwrap_or_default();
    let size = PORTS_LABEL.len() + value.len();
    if size > LABEL_LIMIT {
        return Err(PortError::TooLong {
            container: container.to_owned(),
            records: folded.len(),
            size,
        });
    }
    Ok(value)
}

/// The records of a [`PORTS_LABEL`] value, folded entries unfolded.
pub fn decode(container: &str, value: &str) -> Result<Vec<PortRecord>, PortError> {
    let folded: Vec<PortRecord> = serde_json::from_str(value).map_err(|e| PortError::BadLabel {
        container: container.to_owned(),
        message: e.to_string(),
    })?;
    let past_end = || PortError::BadLabel {
        container: container.to_owned(),
        message: "a folded entry runs past port 65535".into(),
    };
    let mut out = Vec::new();
    for r in folded {
        for i in 0..r.count.max(1) {
            let container_port = r.container_port.checked_add(i).ok_or_else(past_end)?;
            let host_port = match r.host_port {
                Some(p) => Some(p.checked_add(i).ok_or_else(past_end)?),
                None => None,
            };
            out.push(PortRecord {
                host_ip: r.host_ip,
                host_port,
                container_port,
                proto: r.proto,
                count: 1,
            });
        }
    }
    Ok(out)
}

/// One port as compose's `api.PortPublisher` (`ps --format json`'s `Publishers`): what the
/// Docker engine lists in a container's `Ports`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Publisher {
    #[serde(rename = "URL")]
    pub url: String,
    pub target_port: u16,
    pub published_port: u16,
    pub protocol: String,
}

/// The engine's `Ports` of a container from berth's records: a port published on all addresses
/// is listed twice, on `0.0.0.0` then `::` (as Docker 26 lists its IPv4 and IPv6 bindings), an
/// exposed port once with no address and port 0. Sorted by container port as compose's `ps`
/// sorts them (the order among one container port's entries is the records').
pub fn publishers(records: &[PortRecord]) -> Vec<Publisher> {
    let mut out = Vec::new();
    for r in records {
        let mut push = |url: String, published_port: u16| {
            out.push(Publisher {
                url,
                target_port: r.container_port,
                published_port,
                protocol: r.proto.as_str().to_owned(),
            })
        };
        match (r.host_port, r.host_ip) {
            (None, _) => push(String::new(), 0),
            (Some(p), Some(ip)) => push(ip.to_string(), p),
            (Some(p), None) => {
                push(Ipv4Addr::UNSPECIFIED.to_string(), p);
                push(Ipv6Addr::UNSPECIFIED.to_string(), p);
            }
        }
    }
    out.sort_by_key(|p| p.target_port);
    out
}

/// The PORTS column: docker/cli v26 `formatter.DisplayablePorts`, rule for rule. Ports whose host
/// port equals the container port are grouped per address and protocol into ranges
/// (`0.0.0.0:8000-8002->8000-8002/tcp`, exposed `80-81/tcp`); a run broken by a gap is printed
/// when the next run starts, and the open runs follow in the order their keys first appeared;
/// mappings to a different host port come last, one each.
pub fn displayable_ports(publishers: &[Publisher]) -> String {
    let mut ports: Vec<&Publisher> = publishers.iter().collect();
    ports.sort_by(|a, b| {
        a.target_port
            .cmp(&b.target_port)
            .then_with(|| a.url.cmp(&b.url))
            .then_with(|| a.published_port.cmp(&b.published_port))
            .then_with(|| a.protocol.cmp(&b.protocol))
    });
    let mut groups: BTreeMap<String, (u16, u16)> = BTreeMap::new();
    let mut keys: Vec<String> = Vec::new();
    let mut result: Vec<String> = Vec::new();
    let mut mappings: Vec<String> = Vec::new();
    for p in ports {
        let current = p.target_port;
        let mut key = p.protocol.clone();
        if !p.url.is_empty() {
            if p.published_port != current {
                mappings.push(format!(
                    "{}:{}->{}/{}",
                    p.url, p.published_port, p.target_port, p.protocol
                ));
                continue;
            }
            key = format!("{}/{}", p.url, p.protocol);
        }
        match groups.get_mut(&key) {
            None => {
                groups.insert(key.clone(), (current, current));
                keys.push(key);
            }
            // Go's uint16 addition wraps
            Some(g) if current == g.1.wrapping_add(1) => g.1 = current,
            Some(g) => {
                result.push(form_group(&key, g.0, g.1));
                *g = (current, current);
            }
        }
    }
    for key in &keys {
        if let Some(&(first, last)) = groups.get(key) {
            result.push(form_group(key, first, last));
        }
    }
    result.extend(mappings);
    result.join(", ")
}

/// docker/cli `formGroup`: the key is `proto` or `ip/proto` (an IPv6 address has no '/').
fn form_group(key: &str, first: u16, last: u16) -> String {
    let parts: Vec<&str> = key.split('/').collect();
    let (ip, proto) = match parts.as_slice() {
        [proto] => ("", *proto),
        [ip, proto, ..] => (*ip, *proto),
        [] => ("", ""),
    };
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{ip}:{group}->{group}");
    }
    format!("{group}/{proto}")
}

/// compose `portNotFoundError`'s list: each of the container's ports as `PUBLISHED/proto` (the
/// host port, 0 for an exposed one: compose formats `PublicPort`).
pub fn not_found_list(publishers: &[Publisher]) -> String {
    publishers
        .iter()
        .map(|p| format!("{}/{}", p.published_port, p.protocol))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::StringOrNumberList;

    fn cfg(host_ip: &str, target: u32, published: &str, protocol: &str) -> ServicePortConfig {
        ServicePortConfig {
            mode: "ingress".into(),
            host_ip: host_ip.into(),
            target,
            published: published.into(),
            protocol: protocol.into(),
            ..Default::default()
        }
    }

    fn svc(ports: Vec<ServicePortConfig>, expose: &[&str]) -> ServiceConfig {
        ServiceConfig {
            ports,
            expose: StringOrNumberList(expose.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    fn published(ip: Option<&str>, port: HostPort, target: u16, proto: Proto) -> Publish {
        Publish {
            container_port: target,
            proto,
            host: Some(HostSide {
                ip: ip.map(|i| i.parse().unwrap()),
                port,
            }),
        }
    }

    fn exposed(target: u16, proto: Proto) -> Publish {
        Publish {
            container_port: target,
            proto,
            host: None,
        }
    }

    #[test]
    fn service_ports_fixed_range_random_and_exposed() {
        let s = svc(
            vec![
                cfg("", 80, "8080", "tcp"),
                cfg("127.0.0.1", 9000, "9000", "udp"),
                cfg("", 81, "8000-8010", "tcp"),
                cfg("::1", 82, "", ""),
            ],
            &["80", "3000-3001/udp", "9000/udp", "3000"],
        );
        assert_eq!(
            service_ports("web", &s).unwrap(),
            vec![
                published(None, HostPort::Fixed(8080), 80, Proto::Tcp),
                published(Some("127.0.0.1"), HostPort::Fixed(9000), 9000, Proto::Udp),
                published(None, HostPort::Range(8000, 8010), 81, Proto::Tcp),
                published(Some("::1"), HostPort::Random, 82, Proto::Tcp),
                exposed(3000, Proto::Udp),
                exposed(3001, Proto::Udp),
                exposed(3000, Proto::Tcp),
            ]
        );
    }

    #[test]
    fn bad_entries_name_service_and_key() {
        let err = |p: ServicePortConfig| {
            service_ports("web", &svc(vec![cfg("", 1, "", ""), p], &[]))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(cfg("", 80, "abc", "tcp")),
            "service \"web\": ports[1]: invalid hostPort: abc"
        );
        assert_eq!(
            err(cfg("", 80, "90-80", "tcp")),
            "service \"web\": ports[1]: invalid hostPort: 90-80"
        );
        assert_eq!(
            err(cfg("1.2.3", 80, "8080", "tcp")),
            "service \"web\": ports[1]: Invalid ip address: 1.2.3"
        );
        assert_eq!(
            err(cfg("", 80, "8080", "sctp")),
            "service \"web\": ports[1]: protocol sctp is not supported by berth (tcp and udp are)"
        );
        assert_eq!(
            err(cfg("", 70000, "8080", "tcp")),
            "service \"web\": ports[1]: invalid containerPort: 70000"
        );
        assert_eq!(
            service_ports("web", &svc(vec![], &["x"]))
                .unwrap_err()
                .to_string(),
            "service \"web\": expose[0]: invalid range format for --expose: x"
        );
    }

    #[test]
    fn run_publish_replaces_ports_and_keeps_expose() {
        let s = svc(vec![cfg("", 80, "8080", "tcp")], &["7000"]);
        let p = |v: &[&str], sp: bool| {
            run_ports(
                "web",
                &s,
                &v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                sp,
            )
        };
        assert_eq!(
            p(&[], true).unwrap(),
            vec![
                published(None, HostPort::Fixed(8080), 80, Proto::Tcp),
                exposed(7000, Proto::Tcp)
            ]
        );
        assert_eq!(p(&[], false).unwrap(), vec![exposed(7000, Proto::Tcp)]);
        // ranges pair up one by one; a host range for one container port is picked from
        assert_eq!(
            p(&["[::1]:9090-9091:8080-8081/udp", "6000-6010:7000"], false).unwrap(),
            vec![
                published(Some("::1"), HostPort::Fixed(9090), 8080, Proto::Udp),
                published(Some("::1"), HostPort::Fixed(9091), 8081, Proto::Udp),
                published(None, HostPort::Range(6000, 6010), 7000, Proto::Tcp),
            ]
        );
        assert_eq!(
            p(&["127.0.0.1::80"], false).unwrap()[0],
            published(Some("127.0.0.1"), HostPort::Random, 80, Proto::Tcp)
        );
        // Docker's texts for ranges of different lengths
        assert_eq!(
            p(&["80-81:90-92"], false).unwrap_err().to_string(),
            "service \"web\": --publish 80-81:90-92: invalid ranges specified for container and host Ports: 90-92 and 80-81"
        );
        assert_eq!(
            p(&["8080:80-81"], false).unwrap_err().to_string(),
            "service \"web\": --publish 8080:80-81: invalid ranges specified for container and host Ports: 80-81 and 8080"
        );
        assert_eq!(
            p(&["8080:"], false).unwrap_err().to_string(),
            "service \"web\": --publish 8080:: no port specified: 8080:<empty>"
        );
    }

    #[test]
    fn scaled_fixed_ports_and_small_ranges_are_refused() {
        let web = [published(None, HostPort::Fixed(8080), 80, Proto::Tcp)];
        assert!(check(&[("web", 1, &web)]).is_ok());
        assert_eq!(
            check(&[("web", 2, &web)]).unwrap_err().to_string(),
            "service \"web\" has 2 containers but publishes the fixed host port 0.0.0.0:8080/tcp: Bind for 0.0.0.0:8080 failed: port is already allocated (publish a host port range, or the container port alone, to scale it)"
        );
        let ranged = [published(None, HostPort::Range(8000, 8001), 80, Proto::Tcp)];
        assert!(check(&[("web", 2, &ranged)]).is_ok());
        assert_eq!(
            check(&[("web", 3, &ranged)]).unwrap_err().to_string(),
            "service \"web\" has 3 containers but its host port range 8000-8001 for 80/tcp has only 2 ports"
        );
        let random = [published(None, HostPort::Random, 80, Proto::Tcp)];
        assert!(check(&[("web", 5, &random)]).is_ok());
    }

    #[test]
    fn two_services_on_one_host_port_are_named() {
        let a = [published(None, HostPort::Fixed(8080), 80, Proto::Tcp)];
        let b = [published(
            Some("127.0.0.1"),
            HostPort::Fixed(8080),
            81,
            Proto::Tcp,
        )];
        let c = [published(
            Some("127.0.0.2"),
            HostPort::Fixed(8080),
            81,
            Proto::Tcp,
        )];
        let u = [published(None, HostPort::Fixed(8080), 80, Proto::Udp)];
        assert_eq!(
            check(&[("api", 1, &a), ("web", 1, &b)])
                .unwrap_err()
                .to_string(),
            "services \"api\" and \"web\" publish the same host port 127.0.0.1:8080/tcp: Bind for 127.0.0.1:8080 failed: port is already allocated"
        );
        // different addresses, or protocols, do not clash; a service scaled to 0 has no container
        assert!(check(&[("web", 1, &b), ("db", 1, &c), ("dns", 1, &u)]).is_ok());
        assert!(check(&[("api", 0, &a), ("web", 1, &b)]).is_ok());
        let twice = [a[0], a[0]];
        assert_eq!(
            check(&[("api", 1, &twice)]).unwrap_err().to_string(),
            "service \"api\" would twice publish the same host port 0.0.0.0:8080/tcp: Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
    }

    #[test]
    fn project_check_uses_scale_flags_and_selection() {
        let mut project = Project::default();
        project
            .services
            .insert("web".into(), svc(vec![cfg("", 80, "8080", "tcp")], &[]));
        project.services.insert(
            "api".into(),
            svc(vec![cfg("127.0.0.1", 81, "8080", "tcp")], &[]),
        );
        let none = BTreeMap::new();
        assert!(matches!(
            check_project(&project, &[], &none),
            Err(PortError::Conflict { .. })
        ));
        assert!(check_project(&project, &["web".into()], &none).is_ok());
        let scaled = [("web".to_string(), 3)].into();
        assert!(matches!(
            check_project(&project, &["web".into()], &scaled),
            Err(PortError::ScaledFixedPort { scale: 3, .. })
        ));
        let zero = [("api".to_string(), 0)].into();
        assert!(check_project(&project, &[], &zero).is_ok());
    }

    #[test]
    fn overlap_rules() {
        let b = |ip: Option<&str>, port: u16| HostBinding {
            ip: ip.map(|i| i.parse().unwrap()),
            port,
            proto: Proto::Tcp,
        };
        assert!(b(None, 1).overlaps(&b(Some("::1"), 1)));
        assert!(b(Some("0.0.0.0"), 1).overlaps(&b(Some("127.0.0.1"), 1)));
        assert!(!b(Some("0.0.0.0"), 1).overlaps(&b(Some("::1"), 1)));
        assert!(b(Some("::"), 1).overlaps(&b(Some("::1"), 1)));
        assert!(!b(Some("127.0.0.1"), 1).overlaps(&b(Some("127.0.0.1"), 2)));
        assert_eq!(b(Some("::1"), 53).to_string(), "[::1]:53/tcp");
    }

    fn rec(ip: Option<&str>, host: Option<u16>, c: u16, proto: Proto) -> PortRecord {
        PortRecord {
            host_ip: ip.map(|i| i.parse().unwrap()),
            host_port: host,
            container_port: c,
            proto,
            count: 1,
        }
    }

    #[test]
    fn label_round_trips_and_folds_runs() {
        let records = vec![
            rec(None, Some(8080), 80, Proto::Tcp),
            rec(Some("127.0.0.1"), Some(9000), 9000, Proto::Udp),
            rec(None, Some(7000), 7000, Proto::Tcp),
            rec(None, Some(7001), 7001, Proto::Tcp),
            rec(None, Some(7002), 7002, Proto::Tcp),
            rec(None, None, 3000, Proto::Tcp),
            rec(None, None, 3001, Proto::Tcp),
        ];
        let v = encode("p-web-1", &records).unwrap();
        assert_eq!(
            v,
            r#"[{"host_port":8080,"container_port":80,"proto":"tcp"},{"host_ip":"127.0.0.1","host_port":9000,"container_port":9000,"proto":"udp"},{"host_port":7000,"container_port":7000,"proto":"tcp","count":3},{"container_port":3000,"proto":"tcp","count":2}]"#
        );
        assert_eq!(decode("p-web-1", &v).unwrap(), records);
        assert_eq!(decode("x", "[]").unwrap(), vec![]);
        assert!(decode("x", "{").is_err());
        assert!(decode(
            "x",
            r#"[{"host_port":65535,"container_port":1,"proto":"tcp","count":2}]"#
        )
        .is_err());
        // a thousand mapped ports fold into one entry; a thousand scattered ones do not fit
        let run: Vec<_> = (0..1000)
            .map(|i| rec(None, Some(20000 + i), 1000 + i, Proto::Tcp))
            .collect();
        assert_eq!(decode("x", &encode("x", &run).unwrap()).unwrap(), run);
        let scattered: Vec<_> = (0..1000)
            .map(|i| rec(None, Some(20000 + 2 * i), 1000 + i, Proto::Tcp))
            .collect();
        assert!(matches!(
            encode("x", &scattered),
            Err(PortError::TooLong { .. })
        ));
    }

    #[test]
    fn resolve_keeps_the_address() {
        let p = published(Some("127.0.0.1"), HostPort::Random, 80, Proto::Tcp);
        assert_eq!(
            p.resolve(49200),
            rec(Some("127.0.0.1"), Some(49200), 80, Proto::Tcp)
        );
        assert_eq!(
            exposed(80, Proto::Udp).resolve(1),
            rec(None, None, 80, Proto::Udp)
        );
    }

    fn ps(records: &[PortRecord]) -> String {
        displayable_ports(&publishers(records))
    }

    #[test]
    fn ports_column_as_docker_shows_it() {
        assert_eq!(
            ps(&[rec(None, Some(8080), 80, Proto::Tcp)]),
            "0.0.0.0:8080->80/tcp, :::8080->80/tcp"
        );
        assert_eq!(
            ps(&[rec(Some("127.0.0.1"), Some(9000), 9000, Proto::Tcp)]),
            "127.0.0.1:9000->9000/tcp"
        );
        assert_eq!(ps(&[rec(None, None, 80, Proto::Tcp)]), "80/tcp");
        // consecutive same-number ports collapse per address and protocol
        assert_eq!(
            ps(&[
                rec(None, Some(8000), 8000, Proto::Tcp),
                rec(None, Some(8001), 8001, Proto::Tcp),
                rec(None, Some(8002), 8002, Proto::Tcp),
            ]),
            "0.0.0.0:8000-8002->8000-8002/tcp, :::8000-8002->8000-8002/tcp"
        );
        assert_eq!(
            ps(&[
                rec(None, None, 80, Proto::Tcp),
                rec(None, None, 81, Proto::Tcp),
                rec(None, None, 83, Proto::Tcp),
                rec(None, None, 53, Proto::Udp),
            ]),
            // the broken run is printed first, open runs in the order their keys appeared
            "80-81/tcp, 53/udp, 83/tcp"
        );
        // mappings to another host port come last
        assert_eq!(
            ps(&[
                rec(None, Some(8080), 80, Proto::Tcp),
                rec(None, None, 443, Proto::Tcp),
                rec(Some("::1"), Some(5353), 5353, Proto::Udp),
            ]),
            "443/tcp, ::1:5353->5353/udp, 0.0.0.0:8080->80/tcp, :::8080->80/tcp"
        );
        assert_eq!(ps(&[]), "");
    }

    #[test]
    fn publishers_are_sorted_by_container_port() {
        let p = publishers(&[
            rec(None, Some(8080), 80, Proto::Tcp),
            rec(None, None, 22, Proto::Tcp),
        ]);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"[{"URL":"","TargetPort":22,"PublishedPort":0,"Protocol":"tcp"},{"URL":"0.0.0.0","TargetPort":80,"PublishedPort":8080,"Protocol":"tcp"},{"URL":"::","TargetPort":80,"PublishedPort":8080,"Protocol":"tcp"}]"#
        );
        assert_eq!(not_found_list(&p), "0/tcp, 8080/tcp, 8080/tcp");
    }
}
