//! Short port syntax (`"127.0.0.1:8000-8001:80-81/udp"`, `8080`): the parser compose borrows from
//! docker's go-connections (`nat.ParsePortSpec`), and the rewrite of `services.*.ports` into one
//! long-syntax mapping per container port.

use std::net::IpAddr;

use super::Ctx;
use crate::model::error::{Error, Result};
use crate::model::node::{KeyPath, Map, Node, Value};

/// One container port of a short port spec, as compose's long syntax holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    /// Host address, brackets of an IPv6 address removed; empty when not given.
    pub host_ip: String,
    /// Container port. 0 when the spec says 0 (compose then leaves `target` out).
    pub target: u16,
    /// Host port or host port range (`"8000-8010"` for a single container port); empty when not given.
    pub published: String,
    /// Lower-cased protocol: tcp, udp or sctp.
    pub protocol: String,
}

/// Parses one short port spec into its container ports, in the order compose lists them: sorted
/// as the strings `"<port>/<proto>"` compare, so a range crossing a digit count (`998-1001`)
/// comes out as 1000, 1001, 998, 999 exactly as compose prints it.
pub fn parse_port_spec(raw: &str) -> std::result::Result<Vec<PortMapping>, String> {
    let (ip, host_port, container) = split_parts(raw);
    let (proto, container) = split_proto_port(container);

    // the docker release compose 2.26 ships splits every host address as `net.SplitHostPort`
    // does (bracketed or not), so an unbracketed IPv6 address is refused for its colons
    let mut ip = ip.to_string();
    if !ip.is_empty() {
        let probe = format!("{ip}:");
        ip = split_host(&probe).map_err(|e| format!("Invalid ip address {ip}: {e}"))?;
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("Invalid ip address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) =
        parse_port_range(container).map_err(|_| format!("invalid containerPort: {container}"))?;
    let (mut host_start, mut host_end) = (0u16, 0u16);
    if !host_port.is_empty() {
        (host_start, host_end) =
            parse_port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
        if end - start != host_end - host_start && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container} and {host_port}"
            ));
        }
    }
    let protocol = proto.to_lowercase();
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }

    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let mut published = String::new();
        if !host_port.is_empty() {
            published = (u32::from(host_start) + u32::from(i)).to_string();
        }
        // A single container port with a host range: the range is where the engine picks from.
        if start == end && host_start != host_end {
            published = format!("{published}-{host_end}");
        }
        out.push(PortMapping {
            host_ip: ip.clone(),
            target: start + i,
            published,
            protocol: protocol.clone(),
        });
    }
    out.sort_by_key(|p| format!("{}/{}", p.target, p.protocol));
    Ok(out)
}

/// `ip:host:container`, where the ip may itself hold colons (IPv6).
fn split_parts(raw: &str) -> (String, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1];
    match n {
        1 => (String::new(), "", container),
        2 => (String::new(), parts[0], container),
        3 => (parts[0].to_string(), parts[1], container),
        _ => (parts[..n - 2].join(":"), parts[n - 2], container),
    }
}

/// `80/udp` → ("udp", "80"); no protocol means tcp; an empty port gives two empty strings.
fn split_proto_port(raw: &str) -> (&str, &str) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return ("", "");
    }
    if parts.len() == 1 {
        return ("tcp", raw);
    }
    if parts[1].is_empty() {
        return ("tcp", parts[0]);
    }
    (parts[1], parts[0])
}

/// The host part of `host:` or `[host]:` as Go's `net.SplitHostPort` finds it (`probe` always
/// ends in ':').
fn split_host(probe: &str) -> std::result::Result<String, String> {
    let addr_err = |why: &str| format!("address {probe}: {why}");
    let last_colon = probe.rfind(':').unwrap_or(0);
    let (host, j, k) = if probe.starts_with('[') {
        let Some(end) = probe.find(']') else {
            return Err(addr_err("missing ']' in address"));
        };
        if end + 1 == probe.len() {
            return Err(addr_err("missing port in address"));
        }
        if end + 1 != last_colon {
            if probe.as_bytes()[end + 1] == b':' {
                return Err(addr_err("too many colons in address"));
            }
            return Err(addr_err("missing port in address"));
        }
        (&probe[1..end], 1, end + 1)
    } else {
        let host = &probe[..last_colon];
        if host.contains(':') {
            return Err(addr_err("too many colons in address"));
        }
        (host, 0, 0)
    };
    if probe[j..].contains('[') {
        return Err(addr_err("unexpected '[' in address"));
    }
    if probe[k..].contains(']') {
        return Err(addr_err("unexpected ']' in address"));
    }
    Ok(host.to_string())
}

/// `8000` or `8000-8010` (anything after a second '-' is ignored, as docker does).
fn parse_port_range(s: &str) -> std::result::Result<(u16, u16), String> {
    if s.is_empty() {
        return Err("empty string specified for ports".into());
    }
    let Some((first, rest)) = s.split_once('-') else {
        let p = parse_port_number(s)?;
        return Ok((p, p));
    };
    let second = rest.split('-').next().unwrap_or("");
    let start = parse_port_number(first)?;
    let end = parse_port_number(second)?;
    if end < start {
        return Err(format!("invalid range specified for port: {s}"));
    }
    Ok((start, end))
}

/// Go's `strconv.ParseUint(s, 10, 16)`: decimal digits only, no sign, at most 65535.
fn parse_port_number(s: &str) -> std::result::Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid syntax: {s:?}"));
    }
    s.parse::<u16>()
        .map_err(|_| format!("value out of range: {s:?}"))
}

/// The long-syntax mapping compose writes for one parsed port (`target` and `published` are left
/// out when zero or empty, as compose's struct encoding does).
fn port_node(p: &PortMapping, at: &Node) -> Node {
    let s = |v: &str| Node::str(v).at(&at.pos);
    let mut m = Map::new();
    m.insert("mode".into(), s("ingress"));
    if !p.host_ip.is_empty() {
        m.insert("host_ip".into(), s(&p.host_ip));
    }
    if p.target != 0 {
        m.insert(
            "target".into(),
            Node::synth(Value::Int(i64::from(p.target))).at(&at.pos),
        );
    }
    if !p.published.is_empty() {
        m.insert("published".into(), s(&p.published));
    }
    m.insert("protocol".into(), s(&p.protocol));
    Node::map(m).at(&at.pos)
}

/// `services.*.ports`: every short entry becomes one mapping per container port; mappings stay.
pub(super) fn transform_ports(node: &mut Node, path: &KeyPath, ctx: &mut Ctx) -> Result<()> {
    let Some(entries) = node.as_seq() else {
        return Err(Error::at(
            node,
            path,
            format!("ports must be a list, got {}", node.kind()),
        ));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let at = path.index(i);
        let spec = match &entry.v {
            Value::Map(m) => {
                if !m.contains_key("target") {
                    return Err(Error::at(
                        entry,
                        &at,
                        "service port is missing a target port",
                    ));
                }
                out.push(entry.clone());
                continue;
            }
            Value::Int(n) => n.to_string(),
            Value::Str(s) => s.clone(),
            _ => {
                return Err(Error::at(
                    entry,
                    &at,
                    format!(
                        "invalid port: expected a number, a string or a mapping, got {}",
                        entry.kind()
                    ),
                ))
            }
        };
        match parse_port_spec(&spec) {
            Ok(parsed) => out.extend(parsed.iter().map(|p| port_node(p, entry))),
            // Without interpolation `${HOST}:80` cannot parse; compose keeps the list as written.
            Err(_) if ctx.ignore_parse_errors && matches!(entry.v, Value::Str(_)) => return Ok(()),
            Err(e) => return Err(Error::at(entry, &at, format!("invalid port {spec:?}: {e}"))),
        }
    }
    node.v = Value::Seq(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(ip: &str, target: u16, published: &str, proto: &str) -> PortMapping {
        PortMapping {
            host_ip: ip.into(),
            target,
            published: published.into(),
            protocol: proto.into(),
        }
    }

    #[test]
    fn single_ports_and_mappings() {
        assert_eq!(parse_port_spec("80").unwrap(), vec![pm("", 80, "", "tcp")]);
        assert_eq!(
            parse_port_spec("8080:80").unwrap(),
            vec![pm("", 80, "8080", "tcp")]
        );
        assert_eq!(
            parse_port_spec("127.0.0.1:8001:8001/udp").unwrap(),
            vec![pm("127.0.0.1", 8001, "8001", "udp")]
        );
        assert_eq!(
            parse_port_spec("8080:80/TCP").unwrap(),
            vec![pm("", 80, "8080", "tcp")]
        );
        assert_eq!(parse_port_spec("80/").unwrap(), vec![pm("", 80, "", "tcp")]);
        assert_eq!(
            parse_port_spec("0080:080").unwrap(),
            vec![pm("", 80, "80", "tcp")]
        );
        assert_eq!(
            parse_port_spec("127.0.0.1::80").unwrap(),
            vec![pm("127.0.0.1", 80, "", "tcp")]
        );
    }

    #[test]
    fn ranges_expand_per_container_port() {
        assert_eq!(
            parse_port_spec("9090-9091:8080-8081").unwrap(),
            vec![pm("", 8080, "9090", "tcp"), pm("", 8081, "9091", "tcp")]
        );
        assert_eq!(
            parse_port_spec("3001-3003").unwrap(),
            vec![
                pm("", 3001, "", "tcp"),
                pm("", 3002, "", "tcp"),
                pm("", 3003, "", "tcp")
            ]
        );
        // a host range for one container port stays a range
        assert_eq!(
            parse_port_spec("6005-6015:80").unwrap(),
            vec![pm("", 80, "6005-6015", "tcp")]
        );
        // "80-80" is a single port
        assert_eq!(
            parse_port_spec("80-80:8080/tcp").unwrap(),
            vec![pm("", 8080, "80", "tcp")]
        );
        assert_eq!(
            parse_port_spec("127.0.0.1:5000-5001:5000-5001").unwrap(),
            vec![
                pm("127.0.0.1", 5000, "5000", "tcp"),
                pm("127.0.0.1", 5001, "5001", "tcp")
            ]
        );
    }

    #[test]
    fn range_order_is_string_order() {
        let got: Vec<u16> = parse_port_spec("998-1001")
            .unwrap()
            .iter()
            .map(|p| p.target)
            .collect();
        assert_eq!(got, vec![1000, 1001, 998, 999]);
    }

    #[test]
    fn ipv6_hosts() {
        assert_eq!(
            parse_port_spec("[::1]:8080:80").unwrap(),
            vec![pm("::1", 80, "8080", "tcp")]
        );
        // unbracketed IPv6 hosts are refused: the host is split as `net.SplitHostPort` does
        assert_eq!(
            parse_port_spec("::1:8080:80").unwrap_err(),
            "Invalid ip address ::1: address ::1:: too many colons in address"
        );
        assert_eq!(
            parse_port_spec("::ffff:127.0.0.1:80:80").unwrap_err(),
            "Invalid ip address ::ffff:127.0.0.1: address ::ffff:127.0.0.1:: too many colons in address"
        );
        assert_eq!(
            parse_port_spec("[::1]:80").unwrap_err(),
            "Invalid ip address [:: address [::: missing ']' in address"
        );
        assert_eq!(
            parse_port_spec("[::1:8080:80").unwrap_err(),
            "Invalid ip address [::1: address [::1:: missing ']' in address"
        );
        assert_eq!(
            parse_port_spec("a]b:8080:80").unwrap_err(),
            "Invalid ip address a]b: address a]b:: unexpected ']' in address"
        );
    }

    #[test]
    fn invalid_specs() {
        assert_eq!(
            parse_port_spec("80:abc").unwrap_err(),
            "invalid containerPort: abc"
        );
        assert_eq!(
            parse_port_spec("abc:80").unwrap_err(),
            "invalid hostPort: abc"
        );
        assert_eq!(
            parse_port_spec("127.0.1:8080:80").unwrap_err(),
            "Invalid ip address: 127.0.1"
        );
        assert_eq!(parse_port_spec("80/xyz").unwrap_err(), "invalid proto: xyz");
        assert_eq!(
            parse_port_spec("8080:").unwrap_err(),
            "no port specified: 8080:<empty>"
        );
        assert_eq!(
            parse_port_spec("80-81:90-92").unwrap_err(),
            "invalid ranges specified for container and host Ports: 90-92 and 80-81"
        );
        assert_eq!(
            parse_port_spec("8080:80-81").unwrap_err(),
            "invalid ranges specified for container and host Ports: 80-81 and 8080"
        );
        assert!(parse_port_spec("70000").is_err());
        assert!(parse_port_spec("+80").is_err());
        assert!(parse_port_spec("90-80").is_err());
        assert!(parse_port_spec("-1").is_err());
    }
}
