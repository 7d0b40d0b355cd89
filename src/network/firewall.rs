//! berth's firewall rules, built as data: one nftables table of berth's own (family `inet`),
//! rendered whole from the networks and published ports berth has, and applied by
//! `network::nft` (the only module that runs `nft`). Pure: no I/O, no sysctl, no netlink.
//!
//! The rendered document replaces the table in one nft transaction (add the table, delete it,
//! add it again with every chain and rule), so a crash between two applies leaves either the
//! old table or the new one, and rendering again from berth's state heals anything. With no
//! network the document only deletes the table.
//!
//! Every chain berth makes has policy accept: berth drops only what its rules say (an internal
//! network's traffic, traffic between two berth bridges, remote packets to 127.0.0.0/8 coming in
//! by a bridge) and leaves every other decision to the host's other tables. An accept here is
//! final only inside berth's chain; another table can still drop the packet.
//!
//! What the table does (facts learnt from Docker's bridge driver and netavark's nftables driver):
//! - `postrouting` (nat): a non-internal network's traffic leaving by another interface is
//!   masqueraded; so is traffic DNAT'ed back into the bridge it came from (hairpin: a container
//!   reaching a published port through a host address), and traffic from 127.0.0.0/8 going out
//!   a bridge (the host's own connections to 127.0.0.1:<port>, which also need
//!   `net.ipv4.conf.<bridge>.route_localnet=1`, see `network::sysctl`).
//! - `prerouting` (nat): packets to a local address jump to `ports`, which DNATs each published
//!   port to its container. Reached from other machines and from containers.
//! - `output` (nat): the host's own connections to a local address (127.0.0.1 included) jump to
//!   `ports` too; a port bound to a loopback address is DNAT'ed here only, so another machine
//!   can never reach it.
//! - `forward` (filter): established and related traffic passes; an internal network's bridge
//!   passes nothing in or out but its own traffic; DNAT'ed traffic to a berth bridge passes
//!   (published ports, from anywhere); two berth bridges cannot reach each other; a non-internal
//!   bridge's traffic out passes.
//! - `input` (filter): packets for 127.0.0.0/8 arriving by a berth bridge are dropped unless
//!   they belong to a connection the host made (route_localnet would otherwise let containers
//!   reach services bound to the host's loopback).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use nftables::batch::Batch;
use nftables::expr::{
    Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix, SetItem, CT,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{JumpTarget, Match, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use serde::{Deserialize, Serialize};

use super::netlink::validate_ifname;

/// The table berth uses in production (tests pass their own name).
pub const DEFAULT_TABLE: &str = "berth";

/// Chain names inside berth's table.
pub const CHAIN_FORWARD: &str = "forward";
pub const CHAIN_INPUT: &str = "input";
pub const CHAIN_PREROUTING: &str = "prerouting";
pub const CHAIN_OUTPUT: &str = "output";
pub const CHAIN_POSTROUTING: &str = "postrouting";
/// The regular chain of DNAT rules that prerouting and output jump to.
pub const CHAIN_PORTS: &str = "ports";

/// Netfilter priorities: NF_IP_PRI_NAT_DST, NF_IP_PRI_FILTER, NF_IP_PRI_NAT_SRC.
const PRIO_DSTNAT: i32 = -100;
const PRIO_FILTER: i32 = 0;
const PRIO_SRCNAT: i32 = 100;

/// One berth network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FwNetwork {
    pub bridge: String,
    pub subnets: Vec<IpNet>,
    /// No traffic in or out but between the bridge's own members.
    pub internal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// One published port: `host_ip:host_port` on the host to `container_ip:container_port`.
/// The container address's family decides which packets are DNAT'ed: a container with an IPv4
/// and an IPv6 address published on every address is two `FwPort`s, one for each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FwPort {
    /// The bridge the container is reached by (one of the networks' bridges).
    pub bridge: String,
    /// None: every host address of the container address's family (127.0.0.1 included for
    /// IPv4). 0.0.0.0 and :: mean the same as None. A loopback address (127.0.0.1, ::1):
    /// the host's own connections only.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
    pub proto: Proto,
}

impl std::fmt::Display for FwPort {
    /// As compose writes it: "127.0.0.1:8080->80/tcp", "8080->80/udp".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            Some(ip) => write!(f, "{ip}:")?,
            None => {}
        }
        write!(
            f,
            "{}->{}/{}",
            self.host_port,
            self.container_port,
            self.proto.as_str()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirewallError {
    #[error("invalid nftables table name {name:?}: {reason}")]
    InvalidTable { name: String, reason: &'static str },
    #[error("firewall for bridge {bridge:?}: {reason}")]
    InvalidBridge { bridge: String, reason: String },
    #[error("firewall: bridge {bridge} is given twice")]
    DuplicateBridge { bridge: String },
    #[error("publish {port} to {container}: bridge {bridge} is not one of berth's networks")]
    UnknownBridge {
        port: String,
        container: IpAddr,
        bridge: String,
    },
    #[error("publish {port} to {container}: network bridge {bridge} is internal")]
    InternalNetwork {
        port: String,
        container: IpAddr,
        bridge: String,
    },
    #[error("publish {port} to {container}: the host address and the container address are not of the same IP family")]
    FamilyMismatch { port: String, container: IpAddr },
    #[error("publish {port} to {container}: host port {host_port}/{proto} is already published to {other}")]
    PortTaken {
        port: String,
        container: IpAddr,
        host_port: u16,
        proto: &'static str,
        other: String,
    },
    #[error("publish {port} to {container}: port 0 cannot be published")]
    PortZero { port: String, container: IpAddr },
}

type Result<T> = std::result::Result<T, FirewallError>;

/// Checks a table name: 1 to 64 bytes of ASCII letters, digits and '_' , starting with a letter
/// (what nft's parser takes as a bare identifier).
pub fn validate_table(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(FirewallError::InvalidTable {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 64 {
        return bad("it must be 1 to 64 bytes long");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return bad("it must start with a letter");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return bad("it may hold only letters, digits and '_'");
    }
    Ok(())
}

/// The document that makes berth's table `table` exactly what `networks` and `ports` say, in
/// one nft transaction. With no network it only deletes the table (absent is fine).
pub fn render(table: &str, networks: &[FwNetwork], ports: &[FwPort]) -> Result<Nftables<'static>> {
    validate_table(table)?;
    let mut seen = HashSet::new();
    for n in networks {
        validate_ifname(&n.bridge).map_err(|e| FirewallError::InvalidBridge {
            bridge: n.bridge.clone(),
            reason: e.to_string(),
        })?;
        if !seen.insert(n.bridge.as_str()) {
            return Err(FirewallError::DuplicateBridge {
                bridge: n.bridge.clone(),
            });
        }
    }
    for (n, p) in ports.iter().enumerate() {
        check_port(p, networks)?;
        if let Some(q) = ports[..n].iter().find(|q| clash(p, q)) {
            return Err(FirewallError::PortTaken {
                port: p.to_string(),
                container: p.container_ip,
                host_port: p.host_port,
                proto: p.proto.as_str(),
                other: SocketAddr::new(q.container_ip, q.container_port).to_string(),
            });
        }
    }

    let t = Builder {
        table: table.to_string(),
    };
    let mut batch = Batch::new();
    // "add" of an existing table is a no-op and "delete" of an absent one fails, so add first:
    // then delete always succeeds, and the whole transaction replaces the table.
    batch.add(NfListObject::Table(t.table_obj()));
    batch.delete(NfListObject::Table(t.table_obj()));
    if networks.is_empty() {
        return Ok(batch.to_nftables());
    }
    batch.add(NfListObject::Table(t.table_obj()));
    for (name, hook) in [
        (
            CHAIN_FORWARD,
            Some((NfChainType::Filter, NfHook::Forward, PRIO_FILTER)),
        ),
        (
            CHAIN_INPUT,
            Some((NfChainType::Filter, NfHook::Input, PRIO_FILTER)),
        ),
        (
            CHAIN_PREROUTING,
            Some((NfChainType::NAT, NfHook::Prerouting, PRIO_DSTNAT)),
        ),
        (
            CHAIN_OUTPUT,
            Some((NfChainType::NAT, NfHook::Output, PRIO_DSTNAT)),
        ),
        (
            CHAIN_POSTROUTING,
            Some((NfChainType::NAT, NfHook::Postrouting, PRIO_SRCNAT)),
        ),
        (CHAIN_PORTS, None),
    ] {
        batch.add(NfListObject::Chain(t.chain(name, hook)));
    }
    for (chain, expr) in rules(networks, ports) {
        batch.add(NfListObject::Rule(t.rule(chain, expr)));
    }
    Ok(batch.to_nftables())
}

fn check_port(p: &FwPort, networks: &[FwNetwork]) -> Result<()> {
    let port = p.to_string();
    let container = p.container_ip;
    let Some(net) = networks.iter().find(|n| n.bridge == p.bridge) else {
        return Err(FirewallError::UnknownBridge {
            port,
            container,
            bridge: p.bridge.clone(),
        });
    };
    if net.internal {
        return Err(FirewallError::InternalNetwork {
            port,
            container,
            bridge: p.bridge.clone(),
        });
    }
    if p.host_ip
        .is_some_and(|h| h.is_ipv4() != container.is_ipv4())
    {
        return Err(FirewallError::FamilyMismatch { port, container });
    }
    if p.host_port == 0 || p.container_port == 0 {
        return Err(FirewallError::PortZero { port, container });
    }
    Ok(())
}

/// Two ports would catch the same packets: same protocol, port and address family, and the
/// same host address or either on every address.
fn clash(p: &FwPort, q: &FwPort) -> bool {
    let any = |h: Option<IpAddr>| h.is_none_or(|h| h.is_unspecified());
    p.proto == q.proto
        && p.host_port == q.host_port
        && p.container_ip.is_ipv4() == q.container_ip.is_ipv4()
        && (any(p.host_ip) || any(q.host_ip) || p.host_ip == q.host_ip)
}

/// Every rule, in order, with its chain.
fn rules(networks: &[FwNetwork], ports: &[FwPort]) -> Vec<(&'static str, Vec<Statement<'static>>)> {
    let mut out = Vec::new();
    let bridges: BTreeSet<&str> = networks.iter().map(|n| n.bridge.as_str()).collect();

    // forward
    out.push((CHAIN_FORWARD, vec![ct_state_established(), accept()]));
    for n in networks.iter().filter(|n| n.internal) {
        out.push((
            CHAIN_FORWARD,
            vec![
                is(iifname(), &n.bridge),
                is_not(oifname(), &n.bridge),
                drop(),
            ],
        ));
        out.push((
            CHAIN_FORWARD,
            vec![
                is(oifname(), &n.bridge),
                is_not(iifname(), &n.bridge),
                drop(),
            ],
        ));
    }
    let published: BTreeSet<&str> = ports.iter().map(|p| p.bridge.as_str()).collect();
    if !published.is_empty() {
        out.push((
            CHAIN_FORWARD,
            vec![in_set(oifname(), &published), ct_status_dnat(), accept()],
        ));
    }
    if bridges.len() > 1 {
        for b in &bridges {
            let others: BTreeSet<&str> = bridges.iter().copied().filter(|o| o != b).collect();
            out.push((
                CHAIN_FORWARD,
                vec![is(iifname(), b), in_set(oifname(), &others), drop()],
            ));
        }
    }
    for n in networks.iter().filter(|n| !n.internal) {
        out.push((CHAIN_FORWARD, vec![is(iifname(), &n.bridge), accept()]));
    }

    // input
    out.push((CHAIN_INPUT, vec![ct_state_established(), accept()]));
    out.push((
        CHAIN_INPUT,
        vec![
            in_set(iifname(), &bridges),
            matches(payload("ip", "daddr"), prefix(loopback_v4())),
            drop(),
        ],
    ));

    // prerouting, output, ports
    let has_v4_port = ports.iter().any(|p| p.container_ip.is_ipv4());
    for p in ports
        .iter()
        .filter(|p| p.host_ip.is_some_and(|h| h.is_loopback()))
    {
        out.push((CHAIN_OUTPUT, dnat_rule(p)));
    }
    let public: Vec<&FwPort> = ports
        .iter()
        .filter(|p| !p.host_ip.is_some_and(|h| h.is_loopback()))
        .collect();
    if !public.is_empty() {
        for chain in [CHAIN_PREROUTING, CHAIN_OUTPUT] {
            out.push((chain, vec![fib_daddr_local(), jump(CHAIN_PORTS)]));
        }
        for p in public {
            out.push((CHAIN_PORTS, dnat_rule(p)));
        }
    }

    // postrouting
    for n in networks.iter().filter(|n| !n.internal) {
        for s in &n.subnets {
            out.push((
                CHAIN_POSTROUTING,
                vec![saddr(*s), is_not(oifname(), &n.bridge), masquerade()],
            ));
        }
    }
    for n in networks
        .iter()
        .filter(|n| published.contains(n.bridge.as_str()))
    {
        for s in &n.subnets {
            // Hairpin: DNAT'ed from the bridge back into it. Without the masquerade the
            // container would answer a peer on its own link directly, bypassing the NAT.
            out.push((
                CHAIN_POSTROUTING,
                vec![
                    saddr(*s),
                    is(oifname(), &n.bridge),
                    ct_status_dnat(),
                    masquerade(),
                ],
            ));
        }
    }
    if has_v4_port {
        let out_bridges: BTreeSet<&str> = ports
            .iter()
            .filter(|p| p.container_ip.is_ipv4())
            .map(|p| p.bridge.as_str())
            .collect();
        out.push((
            CHAIN_POSTROUTING,
            vec![
                in_set(oifname(), &out_bridges),
                saddr(loopback_v4()),
                masquerade(),
            ],
        ));
    }
    out
}

/// The DNAT of one port: to its host address when it has one, else to every address the
/// chain's jump let through, of the container's family.
fn dnat_rule(p: &FwPort) -> Vec<Statement<'static>> {
    let mut expr = Vec::new();
    let v4 = p.container_ip.is_ipv4();
    match p.host_ip.filter(|h| !h.is_unspecified()) {
        Some(h) => expr.push(matches(
            payload(ip_proto(v4), "daddr"),
            string(h.to_string()),
        )),
        None => {
            expr.push(matches(
                meta(MetaKey::Nfproto),
                string(if v4 { "ipv4" } else { "ipv6" }),
            ));
            if !v4 {
                // ::1 cannot be routed out of lo (IPv6 has no route_localnet).
                expr.push(Statement::Match(Match {
                    left: payload("ip6", "daddr"),
                    right: string("::1"),
                    op: Operator::NEQ,
                }));
            }
        }
    }
    expr.push(matches(
        payload(p.proto.as_str(), "dport"),
        Expression::Number(p.host_port.into()),
    ));
    expr.push(Statement::DNAT(Some(NAT {
        addr: Some(string(p.container_ip.to_string())),
        family: Some(if v4 { NATFamily::IP } else { NATFamily::IP6 }),
        port: Some(Expression::Number(p.container_port.into())),
        flags: None,
    })));
    expr
}

struct Builder {
    table: String,
}

impl Builder {
    fn table_obj(&self) -> Table<'static> {
        Table {
            family: NfFamily::INet,
            name: Cow::Owned(self.table.clone()),
            handle: None,
        }
    }

    fn chain(
        &self,
        name: &'static str,
        hook: Option<(NfChainType, NfHook, i32)>,
    ) -> Chain<'static> {
        let mut c = Chain {
            family: NfFamily::INet,
            table: Cow::Owned(self.table.clone()),
            name: Cow::Borrowed(name),
            ..Chain::default()
        };
        if let Some((kind, hook, prio)) = hook {
            c._type = Some(kind);
            c.hook = Some(hook);
            c.prio = Some(prio);
            c.policy = Some(NfChainPolicy::Accept);
        }
        c
    }

    fn rule(&self, chain: &'static str, expr: Vec<Statement<'static>>) -> Rule<'static> {
        Rule {
            family: NfFamily::INet,
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Borrowed(chain),
            expr: Cow::Owned(expr),
            ..Rule::default()
        }
    }
}

fn loopback_v4() -> IpNet {
    // 127.0.0.0/8 is a valid prefix length, so this cannot fail.
    IpNet::V4(ipnet::Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8))
}

fn ip_proto(v4: bool) -> &'static str {
    if v4 {
        "ip"
    } else {
        "ip6"
    }
}

fn string(s: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(s.into()))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn iifname() -> Expression<'static> {
    meta(MetaKey::Iifname)
}

fn oifname() -> Expression<'static> {
    meta(MetaKey::Oifname)
}

fn prefix(net: IpNet) -> Expression<'static> {
    let net = net.trunc();
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(string(net.network().to_string())),
        len: net.prefix_len().into(),
    }))
}

fn saddr(net: IpNet) -> Statement<'static> {
    let proto = ip_proto(matches!(net, IpNet::V4(_)));
    matches(payload(proto, "saddr"), prefix(net))
}

fn matches(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

fn is(left: Expression<'static>, name: &str) -> Statement<'static> {
    matches(left, string(name))
}

fn is_not(left: Expression<'static>, name: &str) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right: string(name),
        op: Operator::NEQ,
    })
}

/// `left` is one of `names` (an anonymous set; a single name is matched directly).
fn in_set(left: Expression<'static>, names: &BTreeSet<&str>) -> Statement<'static> {
    if names.len() == 1 {
        if let Some(only) = names.iter().next() {
            return is(left, only);
        }
    }
    let set = names.iter().map(|n| SetItem::Element(string(*n))).collect();
    matches(left, Expression::Named(NamedExpression::Set(set)))
}

fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: Cow::Borrowed(key),
        family: None,
        dir: None,
    }))
}

fn ct_state_established() -> Statement<'static> {
    Statement::Match(Match {
        left: ct("state"),
        right: Expression::List(vec![string("established"), string("related")]),
        op: Operator::IN,
    })
}

fn ct_status_dnat() -> Statement<'static> {
    Statement::Match(Match {
        left: ct("status"),
        right: string("dnat"),
        op: Operator::IN,
    })
}

fn fib_daddr_local() -> Statement<'static> {
    matches(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags: HashSet::from([FibFlag::Daddr]),
        })),
        string("local"),
    )
}

fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

fn drop() -> Statement<'static> {
    Statement::Drop(None)
}

fn masquerade() -> Statement<'static> {
    Statement::Masquerade(None)
}

fn jump(chain: &'static str) -> Statement<'static> {
    Statement::Jump(JumpTarget {
        target: Cow::Borrowed(chain),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The document as lines close to what `nft list` shows, one command or rule a line:
    /// "add table inet t", "chain forward: filter forward 0 accept",
    /// "postrouting: ip saddr 10.1.0.0/24 oifname != br0 masquerade".
    fn listing(doc: &Nftables) -> Vec<String> {
        let v = serde_json::to_value(doc).unwrap();
        let mut out = Vec::new();
        for cmd in v["nftables"].as_array().unwrap() {
            let (verb, obj) = cmd.as_object().unwrap().iter().next().unwrap();
            let (kind, body) = obj.as_object().unwrap().iter().next().unwrap();
            match kind.as_str() {
                "table" => out.push(format!(
                    "{verb} table {} {}",
                    body["family"].as_str().unwrap(),
                    body["name"].as_str().unwrap()
                )),
                "chain" => {
                    let mut line = format!("chain {}:", body["name"].as_str().unwrap());
                    for k in ["type", "hook", "prio", "policy"] {
                        if !body[k].is_null() {
                            line.push(' ');
                            line.push_str(&scalar(&body[k]));
                        }
                    }
                    out.push(line);
                }
                "rule" => {
                    let stmts: Vec<String> =
                        body["expr"].as_array().unwrap().iter().map(stmt).collect();
                    out.push(format!(
                        "{}: {}",
                        body["chain"].as_str().unwrap(),
                        stmts.join(" ")
                    ));
                }
                other => panic!("unexpected object {other}"),
            }
        }
        out
    }

    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    fn expr(v: &Value) -> String {
        match v {
            Value::Object(o) => {
                let (k, b) = o.iter().next().unwrap();
                match k.as_str() {
                    "meta" => match scalar(&b["key"]).as_str() {
                        k @ ("iifname" | "oifname") => k.to_string(),
                        k => format!("meta {k}"),
                    },
                    "payload" => format!("{} {}", scalar(&b["protocol"]), scalar(&b["field"])),
                    "ct" => format!("ct {}", scalar(&b["key"])),
                    "fib" => {
                        let flags: Vec<String> =
                            b["flags"].as_array().unwrap().iter().map(scalar).collect();
                        format!("fib {} {}", flags.join(" . "), scalar(&b["result"]))
                    }
                    "prefix" => format!("{}/{}", scalar(&b["addr"]), b["len"]),
                    "set" => {
                        let items: Vec<String> = b.as_array().unwrap().iter().map(expr).collect();
                        format!("{{ {} }}", items.join(", "))
                    }
                    other => panic!("unexpected expression {other}: {b}"),
                }
            }
            Value::Array(items) => items.iter().map(expr).collect::<Vec<_>>().join(","),
            other => scalar(other),
        }
    }

    fn stmt(v: &Value) -> String {
        let (k, b) = v.as_object().unwrap().iter().next().unwrap();
        match k.as_str() {
            "match" => {
                let op = match b["op"].as_str().unwrap() {
                    "==" | "in" => String::new(),
                    op => format!("{op} "),
                };
                format!("{} {op}{}", expr(&b["left"]), expr(&b["right"]))
            }
            "accept" | "drop" | "masquerade" if b.is_null() => k.clone(),
            "jump" => format!("jump {}", scalar(&b["target"])),
            "dnat" => {
                let fam = scalar(&b["family"]);
                let addr = scalar(&b["addr"]);
                let addr = if fam == "ip6" {
                    format!("[{addr}]")
                } else {
                    addr
                };
                format!("dnat {fam} to {addr}:{}", b["port"])
            }
            other => panic!("unexpected statement {other}: {b}"),
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn network(bridge: &str, subnets: &[&str], internal: bool) -> FwNetwork {
        FwNetwork {
            bridge: bridge.into(),
            subnets: subnets.iter().map(|s| net(s)).collect(),
            internal,
        }
    }

    fn port(bridge: &str, host_ip: Option<&str>, hp: u16, cip: &str, cp: u16) -> FwPort {
        FwPort {
            bridge: bridge.into(),
            host_ip: host_ip.map(ip),
            host_port: hp,
            container_ip: ip(cip),
            container_port: cp,
            proto: Proto::Tcp,
        }
    }

    fn has(lines: &[String], want: &str) -> bool {
        lines.iter().any(|l| l == want)
    }

    fn rules_of<'a>(lines: &'a [String], chain: &str) -> Vec<&'a str> {
        let prefix = format!("{chain}: ");
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect()
    }

    #[test]
    fn no_network_deletes_the_table() {
        let lines = listing(&render("berth", &[], &[]).unwrap());
        assert_eq!(lines, ["add table inet berth", "delete table inet berth"]);
    }

    #[test]
    fn one_network_replaces_the_table_whole() {
        let nets = [network("br0", &["10.1.0.0/24"], false)];
        let lines = listing(&render("berth_t1", &nets, &[]).unwrap());
        assert_eq!(
            lines[..9],
            [
                "add table inet berth_t1",
                "delete table inet berth_t1",
                "add table inet berth_t1",
                "chain forward: filter forward 0 accept",
                "chain input: filter input 0 accept",
                "chain prerouting: nat prerouting -100 accept",
                "chain output: nat output -100 accept",
                "chain postrouting: nat postrouting 100 accept",
                "chain ports:",
            ]
        );
        assert_eq!(
            rules_of(&lines, "forward"),
            ["ct state established,related accept", "iifname br0 accept"]
        );
        assert_eq!(
            rules_of(&lines, "postrouting"),
            ["ip saddr 10.1.0.0/24 oifname != br0 masquerade"]
        );
        assert_eq!(
            rules_of(&lines, "input"),
            [
                "ct state established,related accept",
                "iifname br0 ip daddr 127.0.0.0/8 drop"
            ]
        );
        // No port, no DNAT.
        assert!(rules_of(&lines, "prerouting").is_empty());
        assert!(rules_of(&lines, "output").is_empty());
        assert!(rules_of(&lines, "ports").is_empty());
    }

    #[test]
    fn internal_network_is_closed_and_not_masqueraded() {
        let nets = [
            network("br0", &["10.1.0.0/24"], false),
            network("br1", &["10.2.0.0/24", "fd00:2::/64"], true),
        ];
        let lines = listing(&render("berth", &nets, &[]).unwrap());
        assert_eq!(
            rules_of(&lines, "forward"),
            [
                "ct state established,related accept",
                "iifname br1 oifname != br1 drop",
                "oifname br1 iifname != br1 drop",
                "iifname br0 oifname br1 drop",
                "iifname br1 oifname br0 drop",
                "iifname br0 accept",
            ]
        );
        assert_eq!(
            rules_of(&lines, "postrouting"),
            ["ip saddr 10.1.0.0/24 oifname != br0 masquerade"]
        );
        assert!(has(
            &lines,
            "input: iifname { br0, br1 } ip daddr 127.0.0.0/8 drop"
        ));
    }

    #[test]
    fn bridges_are_isolated_from_each_other() {
        let nets = [
            network("bra", &["10.1.0.0/24"], false),
            network("brb", &["10.2.0.0/24"], false),
            network("brc", &["10.3.0.0/24"], false),
        ];
        let lines = listing(&render("berth", &nets, &[]).unwrap());
        for want in [
            "forward: iifname bra oifname { brb, brc } drop",
            "forward: iifname brb oifname { bra, brc } drop",
            "forward: iifname brc oifname { bra, brb } drop",
        ] {
            assert!(has(&lines, want), "{want} in {lines:#?}");
        }
        // Drops come before the accepts of outgoing traffic.
        let fwd = rules_of(&lines, "forward");
        let last_drop = fwd.iter().rposition(|r| r.ends_with("drop")).unwrap();
        let first_out = fwd.iter().position(|r| *r == "iifname bra accept").unwrap();
        assert!(last_drop < first_out, "{fwd:#?}");
    }

    #[test]
    fn published_ports_on_every_address() {
        let nets = [network("br0", &["10.1.0.0/24", "fd00:1::/64"], false)];
        let mut udp = port("br0", None, 5353, "10.1.0.2", 53);
        udp.proto = Proto::Udp;
        let ports = [
            port("br0", None, 8080, "10.1.0.2", 80),
            port("br0", None, 8080, "fd00:1::2", 80),
            udp,
        ];
        let lines = listing(&render("berth", &nets, &ports).unwrap());
        assert_eq!(
            rules_of(&lines, "prerouting"),
            ["fib daddr type local jump ports"]
        );
        assert_eq!(
            rules_of(&lines, "output"),
            ["fib daddr type local jump ports"]
        );
        assert_eq!(
            rules_of(&lines, "ports"),
            [
                "meta nfproto ipv4 tcp dport 8080 dnat ip to 10.1.0.2:80",
                "meta nfproto ipv6 ip6 daddr != ::1 tcp dport 8080 dnat ip6 to [fd00:1::2]:80",
                "meta nfproto ipv4 udp dport 5353 dnat ip to 10.1.0.2:53",
            ]
        );
        assert_eq!(
            rules_of(&lines, "postrouting"),
            [
                "ip saddr 10.1.0.0/24 oifname != br0 masquerade",
                "ip6 saddr fd00:1::/64 oifname != br0 masquerade",
                "ip saddr 10.1.0.0/24 oifname br0 ct status dnat masquerade",
                "ip6 saddr fd00:1::/64 oifname br0 ct status dnat masquerade",
                "oifname br0 ip saddr 127.0.0.0/8 masquerade",
            ]
        );
        assert!(has(&lines, "forward: oifname br0 ct status dnat accept"));
    }

    #[test]
    fn ports_on_one_address_and_on_loopback() {
        let nets = [network("br0", &["10.1.0.0/24"], false)];
        let ports = [
            port("br0", Some("127.0.0.1"), 8081, "10.1.0.2", 80),
            port("br0", Some("192.0.2.7"), 8082, "10.1.0.2", 80),
            port("br0", Some("0.0.0.0"), 8083, "10.1.0.2", 80),
        ];
        let lines = listing(&render("berth", &nets, &ports).unwrap());
        // The loopback port is DNAT'ed for the host's own connections only.
        assert_eq!(
            rules_of(&lines, "output"),
            [
                "ip daddr 127.0.0.1 tcp dport 8081 dnat ip to 10.1.0.2:80",
                "fib daddr type local jump ports",
            ]
        );
        assert_eq!(
            rules_of(&lines, "prerouting"),
            ["fib daddr type local jump ports"]
        );
        assert_eq!(
            rules_of(&lines, "ports"),
            [
                "ip daddr 192.0.2.7 tcp dport 8082 dnat ip to 10.1.0.2:80",
                "meta nfproto ipv4 tcp dport 8083 dnat ip to 10.1.0.2:80",
            ]
        );
    }

    #[test]
    fn only_loopback_ports_need_no_jump() {
        let nets = [network("br0", &["10.1.0.0/24"], false)];
        let ports = [port("br0", Some("127.0.0.1"), 8081, "10.1.0.2", 80)];
        let lines = listing(&render("berth", &nets, &ports).unwrap());
        assert!(rules_of(&lines, "prerouting").is_empty());
        assert!(rules_of(&lines, "ports").is_empty());
        assert_eq!(rules_of(&lines, "output").len(), 1);
    }

    #[test]
    fn bad_input_is_refused_naming_it() {
        let nets = [
            network("br0", &["10.1.0.0/24"], false),
            network("br1", &["10.2.0.0/24"], true),
        ];
        let err = |ports: &[FwPort]| render("berth", &nets, ports).unwrap_err().to_string();
        assert_eq!(
            err(&[port("br9", None, 80, "10.1.0.2", 80)]),
            "publish 80->80/tcp to 10.1.0.2: bridge br9 is not one of berth's networks"
        );
        assert_eq!(
            err(&[port("br1", None, 80, "10.2.0.2", 80)]),
            "publish 80->80/tcp to 10.2.0.2: network bridge br1 is internal"
        );
        assert_eq!(
            err(&[port("br0", Some("::1"), 80, "10.1.0.2", 80)]),
            "publish [::1]:80->80/tcp to 10.1.0.2: the host address and the container address \
             are not of the same IP family"
        );
        assert_eq!(
            err(&[port("br0", None, 0, "10.1.0.2", 80)]),
            "publish 0->80/tcp to 10.1.0.2: port 0 cannot be published"
        );
        assert_eq!(
            err(&[
                port("br0", Some("127.0.0.1"), 80, "10.1.0.2", 80),
                port("br0", None, 80, "10.1.0.3", 8080),
            ]),
            "publish 80->8080/tcp to 10.1.0.3: host port 80/tcp is already published to \
             10.1.0.2:80"
        );
        // Other addresses, families or protocols do not clash.
        let mut udp = port("br0", None, 80, "10.1.0.3", 80);
        udp.proto = Proto::Udp;
        let fine = [
            port("br0", Some("127.0.0.1"), 80, "10.1.0.2", 80),
            port("br0", Some("192.0.2.1"), 80, "10.1.0.3", 80),
            port("br0", None, 80, "fd00::3", 80),
            udp,
        ];
        assert!(render("berth", &nets, &fine).is_ok());
        let e = render("berth-x", &nets, &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid nftables table name \"berth-x\": it may hold only letters, digits and '_'"
        );
        let dup = [nets[0].clone(), nets[0].clone()];
        assert_eq!(
            render("berth", &dup, &[]).unwrap_err().to_string(),
            "firewall: bridge br0 is given twice"
        );
        let bad = [network("a/b", &[], false)];
        let e = render("berth", &bad, &[]).unwrap_err().to_string();
        assert!(
            e.starts_with("firewall for bridge \"a/b\": invalid interface name"),
            "{e}"
        );
    }
}
