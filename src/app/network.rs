//! A project's bridge networks and how its containers join them: the records under
//! `<lib>/networks` (subnets, bridge, endpoints), the bridges on the host, and each container's
//! hook file, which the OCI `createRuntime` hook ([`super::nethook`]) reads to join a task's
//! new network namespace to its bridges.
//!
//! Why a hook and not a namespace made beforehand: a container's network namespace is made by
//! runc with each task, and berth's hook (run by runc, with no berth process needed) gives it
//! its veths, addresses and routes. So a task that containerd's restart monitor starts again —
//! after a crash or a host reboot, when /run and every bridge are gone — comes back with the
//! same addresses, its bridge made again, its DNS records and its ports; and when a task ends
//! its namespace and veths go with it. A namespace pinned on a file beforehand would not
//! survive the reboot, and runc fails before any hook when the spec names a missing one.
//!
//! Addresses are allocated when the container is made and released when it is removed, so
//! they stay the same across restarts (the records are the IPAM state, changed only under
//! [`Networks::lock`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppError;
use crate::model::types::{Project, ServiceConfig};
use crate::network::firewall::{self, FwNetwork, FwPort, Proto};
use crate::network::ipam::{self, Subnet};
use crate::network::netlink::{self, BridgeConfig, Netlink};
use crate::network::{cni, nft, sysctl};
use crate::plan::network::{self as plannet, Attachment};
use crate::plan::ports::{PortRecord, Publish};
use crate::progress::{network_id, Event, Progress};
use crate::state::networks::{endpoint_key, Endpoint, Network, Networks};

/// The argv word that makes berth run as the network hook (see `src/main.rs`).
pub const HOOK_ARG: &str = "__network-hook";
/// The hook file in a container's directory.
pub const HOOK_FILE: &str = "network.json";
/// The environment variable that names berth's nftables table (tests give each run its own).
pub const NFT_TABLE_ENV: &str = "BERTH_NFT_TABLE";
pub const DEFAULT_NFT_TABLE: &str = "berth";

/// berth's nftables table: `$BERTH_NFT_TABLE`, else `berth`.
pub fn nft_table() -> String {
    match std::env::var(NFT_TABLE_ENV) {
        Ok(v) if !v.is_empty() => v,
        _ => DEFAULT_NFT_TABLE.into(),
    }
}

/// What the hook needs to join one task to its networks; written at create, read by every
/// start (and restart) of the container's task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookConfig {
    pub lib: PathBuf,
    pub run: PathBuf,
    pub nft_table: String,
    pub container: String,
    pub interfaces: Vec<Interface>,
    /// The container's DNS record on each of its networks (by network name), written by the
    /// hook at each start and removed when it stops.
    #[serde(default)]
    pub dns: Vec<(String, crate::dns::ContainerRecord)>,
}

/// One interface of a container, with what its bridge must be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub network: String,
    pub bridge: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The bridge's gateway addresses with their prefix.
    pub bridge_addrs: Vec<IpNet>,
    pub host_veth: String,
    pub ifname: String,
    pub addrs: Vec<IpNet>,
    pub mac: [u8; 6],
    /// Default routes through this interface (only the first non-internal network has them).
    #[serde(default)]
    pub gateways: Vec<IpAddr>,
    #[serde(default)]
    pub internal: bool,
}

impl Interface {
    /// The network's DNS record (the server listens on the bridge's addresses).
    pub fn dns_network(&self) -> crate::dns::NetworkRecord {
        crate::dns::NetworkRecord {
            name: self.network.clone(),
            gateways: self.bridge_addrs.iter().map(|a| a.addr()).collect(),
            subnets: self.bridge_addrs.iter().map(|a| a.trunc()).collect(),
            internal: self.internal,
        }
    }
}

impl HookConfig {
    pub fn read(path: &Path) -> Result<HookConfig, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("parse {}: {e}", path.display()))
    }
}

/// What joining gave a container: the hook to put in its spec, its addresses and nameservers.
#[derive(Clone, Debug, Default)]
pub struct Joined {
    pub hook: Option<(PathBuf, Vec<String>)>,
    /// The addresses on its first network (for its /etc/hosts line).
    pub addrs: Vec<IpAddr>,
    /// The gateways of its networks, where berth's DNS answers.
    pub nameservers: Vec<IpAddr>,
    /// Its published ports with the host ports chosen (for the `berth.ports` label).
    pub ports: Vec<PortRecord>,
}

fn other(e: impl std::fmt::Display) -> AppError {
    AppError::Other(e.to_string())
}

/// One holder at a time inside this process: the records' `flock` is per open file, so two
/// tasks of one berth would each block a runtime thread on it (and with the holder awaiting
/// netlink on that thread, never wake). Tasks wait here, asynchronously, first.
static IN_PROCESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The records, locked against other processes and other tasks of this one.
struct Locked {
    store: Networks,
    lock: crate::state::networks::NetworksLock,
    _task: tokio::sync::MutexGuard<'static, ()>,
}

async fn locked(lib: &Path) -> Result<Locked, AppError> {
    let task = IN_PROCESS.lock().await;
    let store = Networks::new(lib);
    let lock = store.lock().map_err(other)?;
    Ok(Locked {
        store,
        lock,
        _task: task,
    })
}

/// The names of the networks berth has records of.
pub fn existing(lib: &Path) -> Result<BTreeSet<String>, AppError> {
    Ok(Networks::new(lib)
        .list()
        .map_err(other)?
        .into_iter()
        .map(|n| n.name)
        .collect())
}

/// compose's error for an `external` network of `services` (all when empty) that does not
/// exist; checked before anything is made.
pub fn check_external(lib: &Path, project: &Project, services: &[String]) -> Result<(), AppError> {
    let have = existing(lib)?;
    for (name, s) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        for key in s.networks.keys() {
            let Some(cfg) = project.networks.get(key) else {
                continue;
            };
            let real = plannet::network_name(project, key);
            if cfg.external && !have.contains(&real) {
                return Err(AppError::Other(format!(
                    "network {real} declared as external, but could not be found"
                )));
            }
        }
    }
    Ok(())
}

/// Makes network `name` of `project`: the record (subnets chosen now), the bridge, and
/// berth's firewall table with it; turns on IP forwarding when it is off. An existing record
/// is kept (its bridge made again if missing). Returns what to tell the user (the kernel
/// settings it changed).
pub async fn create_network(
    lib: &Path,
    run: &Path,
    project: &Project,
    name: &str,
    progress: &Progress,
) -> Result<Vec<String>, AppError> {
    let key = project
        .networks
        .keys()
        .find(|k| plannet::network_name(project, k) == name)
        .cloned()
        .ok_or_else(|| AppError::Other(format!("network {name} is not in the project")))?;
    let wanted =
        plannet::wanted_network(project, &key, env!("CARGO_PKG_VERSION")).map_err(other)?;
    let id = network_id(name);
    progress.send(Event::creating(&id));
    let host = Netlink::host().map_err(other)?;
    let result = async {
        let held = locked(lib).await?;
        let (store, lock) = (&held.store, &held.lock);
        let record = match store.get(name).map_err(other)? {
            Some(r) => r,
            None => {
                let mut taken: Vec<IpNet> = store
                    .list()
                    .map_err(other)?
                    .iter()
                    .flat_map(|n| n.subnets.iter().map(|s| s.subnet))
                    .collect();
                taken.extend(
                    host.addresses()
                        .await
                        .map_err(other)?
                        .iter()
                        .map(|a| a.addr.trunc()),
                );
                let record = new_record(&wanted, &taken)
                    .map_err(|e| AppError::Other(format!("network {}: {e}", wanted.key)))?;
                store.put(lock, &record).map_err(other)?;
                record
            }
        };
        ensure_bridge(&host, &record).await?;
        cni::write(lib, &cni_network(&record)).map_err(other)?;
        let records = sync_firewall(store, &nft_table(), run).await?;
        let v6 = records
            .iter()
            .any(|n| n.subnets.iter().any(|s| s.subnet.addr().is_ipv6()));
        let changed = sysctl::enable_ip_forward(v6).map_err(other)?;
        Ok::<_, AppError>(
            changed
                .into_iter()
                .map(|k| format!("berth turned on {k} (containers' traffic is forwarded)"))
                .collect::<Vec<String>>(),
        )
    }
    .await;
    match &result {
        Ok(_) => progress.send(Event::created(&id)),
        Err(e) => progress.send(Event::error_message(&id, e.to_string())),
    }
    result
}

/// A record for `wanted`: its pools, or a free subnet from Docker's default pools.
fn new_record(wanted: &plannet::WantedNetwork, taken: &[IpNet]) -> Result<Network, String> {
    let mut subnets = Vec::new();
    if wanted.pools.is_empty() {
        let subnet =
            ipam::choose_subnet(&ipam::default_pools(), taken).map_err(|e| e.to_string())?;
        subnets.push(Subnet::new(subnet, None, None).map_err(|e| e.to_string())?);
    }
    for p in &wanted.pools {
        ipam::check_free(&p.subnet, taken).map_err(|e| e.to_string())?;
        subnets.push(Subnet::new(p.subnet, p.gateway, p.range).map_err(|e| e.to_string())?);
    }
    let now = chrono::Utc::now();
    let mut h = Sha256::new();
    h.update(wanted.name.as_bytes());
    h.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    let id: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Network {
        name: wanted.name.clone(),
        bridge: wanted
            .bridge
            .clone()
            .unwrap_or_else(|| format!("br-{}", &id[..12])),
        id,
        driver: "bridge".into(),
        subnets,
        internal: wanted.internal,
        enable_ipv6: wanted.enable_ipv6,
        mtu: wanted.mtu,
        labels: wanted.labels.clone(),
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        endpoints: BTreeMap::new(),
    })
}

/// `n` as a CNI conflist says it.
fn cni_network(n: &Network) -> cni::CniNetwork {
    cni::CniNetwork {
        name: n.name.clone(),
        bridge: n.bridge.clone(),
        subnets: n
            .subnets
            .iter()
            .map(|s| cni::CniSubnet {
                subnet: s.subnet,
                gateway: Some(s.gateway),
                ip_range: s.range,
            })
            .collect(),
        internal: n.internal,
        mtu: n.mtu,
        labels: n.labels.clone(),
    }
}

/// The gateway addresses of `n`'s bridge with their prefixes.
fn bridge_addrs(n: &Network) -> Vec<IpNet> {
    n.subnets
        .iter()
        .filter_map(|s| IpNet::new(s.gateway, s.subnet.prefix_len()).ok())
        .collect()
}

/// Makes sure `n`'s bridge exists, has its gateway addresses and is up.
async fn ensure_bridge(host: &Netlink, n: &Network) -> Result<(), AppError> {
    bridge_up(host, &n.bridge, n.mtu, &bridge_addrs(n))
        .await
        .map_err(other)
}

/// A bridge as berth wants it: up, with its addresses, and `route_localnet` on, so the host's
/// own connections to 127.0.0.1 can be DNAT'ed to a container behind it (berth's table drops
/// anything else from a bridge to 127.0.0.0/8).
pub(super) async fn bridge_up(
    host: &Netlink,
    name: &str,
    mtu: Option<u32>,
    addrs: &[IpNet],
) -> Result<(), String> {
    host.ensure_bridge(&BridgeConfig {
        name: name.to_owned(),
        mtu,
        addresses: addrs.to_vec(),
    })
    .await
    .map_err(|e| e.to_string())?;
    // a fixed MAC (Docker's 02:42 form of the gateway address, which no container gets), so
    // the bridge's does not follow its ports
    if let Some(gw) = addrs.iter().find(|a| a.addr().is_ipv4()).or(addrs.first()) {
        host.set_mac(name, plannet::mac_for(gw.addr()))
            .await
            .map_err(|e| e.to_string())?;
    }
    sysctl::set_route_localnet(name).map_err(|e| e.to_string())?;
    Ok(())
}

/// The marker that berth's table was applied since the host booted (/run is emptied then, as
/// the kernel's tables are): a hook that finds it missing renders the table again.
fn firewall_marker(run: &Path, table: &str) -> PathBuf {
    run.join(format!("firewall-{table}.applied"))
}

/// Renders berth's nftables table from every record and applies it as one transaction (the
/// table is deleted when no network is left); returns the records. The caller holds the
/// records' lock.
async fn sync_firewall(
    store: &Networks,
    table: &str,
    run: &Path,
) -> Result<Vec<Network>, AppError> {
    let records = store.list().map_err(other)?;
    let (networks, ports) = firewall_input(&records);
    let doc = firewall::render(table, &networks, &ports).map_err(other)?;
    nft::apply(&doc).await.map_err(other)?;
    let marker = firewall_marker(run, table);
    if records.is_empty() {
        let _ = std::fs::remove_file(&marker);
    } else {
        crate::state::write_atomic(&marker, b"", 0o644).map_err(other)?;
    }
    Ok(records)
}

/// Renders the table again only when this boot has not seen it applied (the hook's case).
pub(super) async fn ensure_firewall(lib: &Path, run: &Path, table: &str) -> Result<(), String> {
    if firewall_marker(run, table).exists() {
        return Ok(());
    }
    let store = Networks::new(lib);
    let _lock = store.lock().map_err(|e| e.to_string())?;
    sync_firewall(&store, table, run)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// What the firewall needs of the records: each network, and each published port once per
/// container address (of the host address's family, or both families when it is unset).
fn firewall_input(records: &[Network]) -> (Vec<FwNetwork>, Vec<FwPort>) {
    let mut networks = Vec::new();
    let mut ports = Vec::new();
    for r in records {
        networks.push(FwNetwork {
            bridge: r.bridge.clone(),
            subnets: r.subnets.iter().map(|s| s.subnet).collect(),
            internal: r.internal,
        });
        for e in r.endpoints.values() {
            for p in &e.ports {
                let proto = match p.proto.as_str() {
                    "udp" => Proto::Udp,
                    _ => Proto::Tcp,
                };
                for ip in &e.addrs {
                    let unspecified = p.host_ip.is_none_or(|h| h.is_unspecified());
                    if !unspecified && p.host_ip.is_some_and(|h| h.is_ipv6() != ip.is_ipv6()) {
                        continue;
                    }
                    ports.push(FwPort {
                        bridge: r.bridge.clone(),
                        host_ip: if unspecified { None } else { p.host_ip },
                        host_port: p.host_port,
                        container_ip: *ip,
                        container_port: p.container_port,
                        proto,
                    });
                }
            }
        }
    }
    (networks, ports)
}

/// Removes network `name`: its bridge and its record. Endpoints of containers that no longer
/// exist (a crash) are dropped. A network another project's containers are still on is left
/// in place with compose's warning ("Resource is still in use"), not an error.
pub async fn remove_network(
    lib: &Path,
    run: &Path,
    name: &str,
    live: &BTreeSet<String>,
    progress: &Progress,
) -> Result<(), AppError> {
    let id = network_id(name);
    progress.send(Event::removing(&id));
    let result = async {
        let held = locked(lib).await?;
        let (store, lock) = (&held.store, &held.lock);
        let Some(mut record) = store.get(name).map_err(other)? else {
            return Ok(true);
        };
        record.endpoints.retain(|k, _| live.contains(k));
        if !record.endpoints.is_empty() {
            store.put(lock, &record).map_err(other)?;
            return Ok(false);
        }
        let host = Netlink::host().map_err(other)?;
        host.delete_link(&record.bridge).await.map_err(other)?;
        store.remove(lock, name).map_err(other)?;
        cni::remove(lib, name).map_err(other)?;
        if crate::dns::remove_network(run, name).map_err(other)? {
            crate::dns::notify(run).map_err(other)?;
        }
        sync_firewall(store, &nft_table(), run).await?;
        Ok::<bool, AppError>(true)
    }
    .await;
    match &result {
        Ok(true) => progress.send(Event::removed(&id)),
        Ok(false) => progress.send(Event::new(
            &id,
            crate::progress::Status::Warning,
            "Resource is still in use",
        )),
        Err(e) => progress.send(Event::error_message(&id, e.to_string())),
    }
    result.map(|_| ())
}

/// Joins container `container` (of `service`, in containerd namespace `namespace`) to its
/// networks: addresses allocated (the fixed ones it asks for, else the lowest free), its
/// endpoints recorded, and its hook file written into `dir`. Nothing to do (an empty
/// [`Joined`]) for `network_mode` host, none or a joined namespace.
#[allow(clippy::too_many_arguments)]
pub async fn join(
    lib: &Path,
    run: &Path,
    namespace: &str,
    project: &Project,
    container: &str,
    s: &ServiceConfig,
    publish: &[Publish],
    dir: &Path,
    exe: &Path,
) -> Result<Joined, AppError> {
    let attachments = plannet::attachments(project, s).map_err(other)?;
    if attachments.is_empty() {
        return Ok(Joined::default());
    }
    let held = locked(lib).await?;
    let (store, lock) = (&held.store, &held.lock);
    let key = endpoint_key(namespace, container);
    let mut records = Vec::new();
    for a in &attachments {
        let mut r = store.get(&a.network).map_err(other)?.ok_or_else(|| {
            AppError::Other(format!(
                "service {:?}: network {} not found",
                s.name, a.network
            ))
        })?;
        // left by a create that died half-way: its addresses are given back first
        if let Some(old) = r.endpoints.remove(&key) {
            release(&mut r, &old);
        }
        records.push(r);
    }
    let mut interfaces = Vec::new();
    let mut joined = Joined::default();
    let mut default_route = true;
    let mut dns = Vec::new();
    // `dns:` servers: where berth's DNS forwards this container's other names
    let upstreams: Vec<std::net::SocketAddr> = s
        .dns
        .iter()
        .filter_map(|d| d.parse::<IpAddr>().ok())
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .collect();
    for (a, r) in attachments.iter().zip(records.iter_mut()) {
        let addrs = allocate(r, a).map_err(|e| {
            AppError::Other(format!("service {:?}: network {}: {e}", s.name, a.network))
        })?;
        let nets: Vec<IpNet> = addrs
            .iter()
            .filter_map(|ip| {
                let sub = r.subnets.iter().find(|sn| sn.subnet.contains(ip))?;
                IpNet::new(*ip, sub.subnet.prefix_len()).ok()
            })
            .collect();
        let gateways: Vec<IpAddr> = if default_route && !r.internal {
            default_route = false;
            r.subnets.iter().map(|sn| sn.gateway).collect()
        } else {
            Vec::new()
        };
        let v4 = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first());
        let mac = a
            .mac
            .or_else(|| v4.map(|ip| plannet::mac_for(*ip)))
            .unwrap_or([0x02, 0x42, 0, 0, 0, 1]);
        if joined.addrs.is_empty() {
            joined.addrs = addrs.clone();
        }
        for sn in &r.subnets {
            if !joined.nameservers.contains(&sn.gateway) {
                joined.nameservers.push(sn.gateway);
            }
        }
        let names = plannet::dns_names(&s.name, container, s, a);
        dns.push((
            r.name.clone(),
            crate::dns::ContainerRecord {
                name: container.to_owned(),
                addresses: addrs.clone(),
                names,
                links: plannet::links(s).into_iter().collect(),
                upstreams: upstreams.clone(),
            },
        ));
        r.endpoints.insert(
            key.clone(),
            Endpoint {
                addrs,
                ports: Vec::new(),
            },
        );
        interfaces.push(Interface {
            internal: r.internal,
            network: r.name.clone(),
            bridge: r.bridge.clone(),
            mtu: r.mtu,
            bridge_addrs: bridge_addrs(r),
            host_veth: netlink::host_veth_name(&key, &r.name),
            ifname: a.ifname.clone(),
            addrs: nets,
            mac,
            gateways,
        });
    }
    // IPv4 nameservers first: most resolvers try them in order
    joined.nameservers.sort_by_key(|a| a.is_ipv6());

    // published ports go through the first network (Docker's gateway endpoint): host ports
    // berth already publishes for other containers are refused, free ones picked
    if !publish.is_empty() {
        let others: Vec<Network> = store
            .list()
            .map_err(other)?
            .into_iter()
            .map(|mut n| {
                n.endpoints.remove(&key);
                n
            })
            .collect();
        let published = super::hostports::published_by_berth(&others);
        let fixed: Vec<_> = publish.iter().filter_map(Publish::fixed).collect();
        let fail = |e: String| AppError::Other(format!("service {:?}: {e}", s.name));
        super::hostports::check_unpublished(&fixed, &published).map_err(|e| fail(e.to_string()))?;
        let mut avoid: Vec<_> = published.into_iter().map(|(_, b)| b).collect();
        let ports =
            super::hostports::resolve(publish, &mut avoid).map_err(|e| fail(e.to_string()))?;
        if let Some(e) = records.first_mut().and_then(|r| r.endpoints.get_mut(&key)) {
            e.ports = super::hostports::to_published(&ports);
        }
        joined.ports = ports;
    }
    let config = HookConfig {
        lib: lib.to_owned(),
        run: run.to_owned(),
        nft_table: nft_table(),
        container: container.to_owned(),
        interfaces,
        dns,
    };
    let file = dir.join(HOOK_FILE);
    let bytes = serde_json::to_vec_pretty(&config).map_err(other)?;
    crate::state::write_atomic(&file, &bytes, 0o644).map_err(other)?;
    for r in &records {
        store.put(lock, r).map_err(other)?;
    }
    if joined.ports.iter().any(|p| p.host_port.is_some()) {
        sync_firewall(store, &nft_table(), run).await?;
    }
    joined.hook = Some((
        exe.to_owned(),
        vec![
            "berth".into(),
            HOOK_ARG.into(),
            file.to_string_lossy().into_owned(),
        ],
    ));
    Ok(joined)
}

/// The addresses `a` gets on `r`: one per subnet family (IPv6 only when enabled), the fixed
/// ones it asks for where given.
fn allocate(r: &mut Network, a: &Attachment) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    let mut has_v4 = false;
    let mut has_v6 = false;
    for wanted in [a.ipv4, a.ipv6].into_iter().flatten() {
        if !r.subnets.iter().any(|s| s.subnet.contains(&wanted)) {
            return Err(format!(
                "address {wanted} is not in any of the network's subnets"
            ));
        }
    }
    for sn in r.subnets.iter_mut() {
        let v6 = sn.subnet.addr().is_ipv6();
        if (v6 && (has_v6 || !r.enable_ipv6)) || (!v6 && has_v4) {
            continue;
        }
        let want = if v6 { a.ipv6 } else { a.ipv4 };
        if want.is_some_and(|w| !sn.subnet.contains(&w)) {
            continue;
        }
        let got = sn.allocate(want).map_err(|e| e.to_string())?;
        if v6 {
            has_v6 = true;
        } else {
            has_v4 = true;
        }
        out.push(got);
    }
    if out.is_empty() {
        return Err("no subnet to take an address from".into());
    }
    Ok(out)
}

fn release(r: &mut Network, e: &Endpoint) {
    for ip in &e.addrs {
        for sn in r.subnets.iter_mut() {
            if sn.subnet.contains(ip) {
                sn.release(*ip);
            }
        }
    }
}

/// Takes a stopped container's names out of berth's DNS (the hook puts them back at its next
/// start). Nothing to do for a container with no hook file.
pub fn forget_dns(run: &Path, dir: &Path) -> Result<(), AppError> {
    match HookConfig::read(&dir.join(HOOK_FILE)) {
        Ok(config) => forget(run, &config),
        Err(_) => Ok(()),
    }
}

fn forget(run: &Path, config: &HookConfig) -> Result<(), AppError> {
    let mut changed = false;
    for (network, _) in &config.dns {
        changed |= crate::dns::remove_container(run, network, &config.container).map_err(other)?;
    }
    if changed {
        crate::dns::notify(run).map_err(other)?;
    }
    Ok(())
}

/// Unplugs a container being removed: its names out of berth's DNS, and the host ends of its
/// veths deleted now (the kernel would delete them with the task's namespace, but only once it
/// gets round to freeing that).
pub async fn unplug(run: &Path, dir: &Path) -> Result<(), AppError> {
    let Ok(config) = HookConfig::read(&dir.join(HOOK_FILE)) else {
        return Ok(());
    };
    forget(run, &config)?;
    let host = Netlink::host().map_err(other)?;
    for i in &config.interfaces {
        host.delete_link(&i.host_veth).await.map_err(other)?;
    }
    Ok(())
}

/// Gives back container `container`'s addresses on every network and drops its endpoints;
/// the firewall is rendered again when it had published ports.
pub async fn leave(
    lib: &Path,
    run: &Path,
    namespace: &str,
    container: &str,
) -> Result<(), AppError> {
    let held = locked(lib).await?;
    let (store, lock) = (&held.store, &held.lock);
    let key = endpoint_key(namespace, container);
    let mut had_ports = false;
    for mut r in store.list().map_err(other)? {
        if let Some(e) = r.endpoints.remove(&key) {
            had_ports |= !e.ports.is_empty();
            release(&mut r, &e);
            store.put(lock, &r).map_err(other)?;
        }
    }
    if had_ports {
        sync_firewall(store, &nft_table(), run).await?;
    }
    Ok(())
}

/// The endpoint keys of the containers of `namespace` that exist, plus every other
/// namespace's (berth cannot see those from here, so they count as live).
pub fn live_endpoints(
    lib: &Path,
    namespace: &str,
    containers: &BTreeSet<String>,
) -> Result<BTreeSet<String>, AppError> {
    let mut live = BTreeSet::new();
    let prefix = format!("{namespace}/");
    for r in Networks::new(lib).list().map_err(other)? {
        for k in r.endpoints.keys() {
            match k.strip_prefix(&prefix) {
                Some(c) if !containers.contains(c) => {}
                _ => {
                    live.insert(k.clone());
                }
            }
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(pools: Vec<plannet::WantedPool>) -> plannet::WantedNetwork {
        plannet::WantedNetwork {
            key: "default".into(),
            name: "p_default".into(),
            bridge: None,
            mtu: None,
            pools,
            internal: false,
            enable_ipv6: false,
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn new_records_take_a_free_default_pool_or_the_given_one() {
        let taken: Vec<IpNet> = vec!["172.17.0.0/16".parse().unwrap()];
        let r = new_record(&wanted(vec![]), &taken).unwrap();
        assert_eq!(
            r.subnets[0].subnet,
            "172.18.0.0/16".parse::<IpNet>().unwrap()
        );
        assert_eq!(
            r.subnets[0].gateway,
            "172.18.0.1".parse::<IpAddr>().unwrap()
        );
        assert!(
            r.bridge.starts_with("br-") && r.bridge.len() == 15,
            "{}",
            r.bridge
        );
        assert_eq!(r.id.len(), 64);
        let pool = plannet::WantedPool {
            subnet: "172.17.5.0/24".parse().unwrap(),
            gateway: None,
            range: None,
        };
        let e = new_record(&wanted(vec![pool]), &taken).unwrap_err();
        assert!(e.contains("172.17.5.0/24"), "{e}");
    }

    #[test]
    fn allocation_honours_fixed_addresses_and_families() {
        let mut r = new_record(
            &wanted(vec![
                plannet::WantedPool {
                    subnet: "10.250.9.0/24".parse().unwrap(),
                    gateway: None,
                    range: None,
                },
                plannet::WantedPool {
                    subnet: "fd00:b50::/64".parse().unwrap(),
                    gateway: None,
                    range: None,
                },
            ]),
            &[],
        )
        .unwrap();
        let mut a = Attachment {
            key: "default".into(),
            network: "p_default".into(),
            ifname: "eth0".into(),
            aliases: vec![],
            ipv4: None,
            ipv6: None,
            mac: None,
        };
        // IPv6 off: only the v4 subnet gives an address
        assert_eq!(
            allocate(&mut r, &a).unwrap(),
            ["10.250.9.2".parse::<IpAddr>().unwrap()]
        );
        r.enable_ipv6 = true;
        a.ipv4 = Some("10.250.9.50".parse().unwrap());
        let got = allocate(&mut r, &a).unwrap();
        assert_eq!(got[0], "10.250.9.50".parse::<IpAddr>().unwrap());
        assert_eq!(got[1], "fd00:b50::2".parse::<IpAddr>().unwrap());
        // taken already
        assert!(allocate(&mut r, &a).is_err());
        a.ipv4 = Some("10.9.9.9".parse().unwrap());
        assert!(allocate(&mut r, &a).unwrap_err().contains("not in any"));
        release(
            &mut r,
            &Endpoint {
                addrs: got,
                ports: vec![],
            },
        );
        a.ipv4 = Some("10.250.9.50".parse().unwrap());
        assert!(allocate(&mut r, &a).is_ok());
    }
}
