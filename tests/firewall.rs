//! berth's firewall (src/network/{firewall,nft,sysctl}.rs) on real kernel objects, as root.
//!
//! Four bridges on private subnets (10.252.<n>.0/24, fd00:b52:<n>::/64, <n> from the process id
//! so parallel runs coexist), each with one named namespace on it:
//! - `c`, the "container" whose port is published, on network A;
//! - `d`, a container on network B (a second berth network);
//! - `i`, a container on an internal network;
//! - `o`, "another machine": its own bridge that the firewall does not know as a berth
//!   network, with a default route back through the host, so that without berth's rules every
//!   namespace here could reach every other.
//!
//! The test applies berth's table (named after the process id) and proves: the published port
//! is reached from the host via 127.0.0.1 and via the host's address on o's link, and from o;
//! the port bound to 127.0.0.1 is reached on loopback and not from o; c's traffic to o is
//! masqueraded (o sees the host's address); i reaches nothing outside its bridge and nothing
//! reaches i; c and d cannot reach each other; a container reaches its own published port
//! through the host's address. Then it deletes the table and shows that each of those
//! blocked paths opens (so the blocks were berth's), and that nothing is left: no table, link,
//! namespace file or mount. A guard removes what the test made even when an assertion fails.
//! Traffic stays between the namespaces the test made and the host's own addresses on them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use berth::network::firewall::{render, FwNetwork, FwPort, Proto};
use berth::network::netlink::{attach, container_ifname, BridgeConfig, Netlink, VethConfig};
use berth::network::netns::{Netns, NetnsDir};
use berth::network::{nft, sysctl};
use ipnet::IpNet;
use nftables::batch::Batch;
use nftables::schema::{NfListObject, Rule, Table};
use nftables::stmt::Statement;
use nftables::types::NfFamily;

/// Where each test server listens inside its namespace.
const PORT: u16 = 7000;
/// An expected failure must show within this bound (a dropped SYN shows as a time-out).
const BLOCKED_WITHIN: Duration = Duration::from_secs(4);

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What the test made, so that [`Drop`] can remove it whatever happened.
struct Bed {
    root: PathBuf,
    dir: NetnsDir,
    table: String,
    links: Vec<String>,
    namespaces: Vec<String>,
}

impl Bed {
    fn clean(&self) -> Vec<String> {
        let mut errors = Vec::new();
        // Plain nft, not berth's code: the guard must work even if that code is what broke.
        let out = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                if !err.contains("No such file or directory") {
                    errors.push(format!("nft delete table inet {}: {err}", self.table));
                }
            }
            Err(e) => errors.push(format!("run nft: {e}")),
        }
        let links = self.links.clone();
        let link_errors = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut errors = Vec::new();
                match Netlink::host() {
                    Ok(nl) => {
                        for l in &links {
                            if let Err(e) = nl.delete_link(l).await {
                                errors.push(e.to_string());
                            }
                        }
                    }
                    Err(e) => errors.push(e.to_string()),
                }
                errors
            })
        })
        .join()
        .unwrap();
        errors.extend(link_errors);
        for n in &self.namespaces {
            if let Err(e) = self.dir.delete(n) {
                errors.push(e.to_string());
            }
        }
        if let Err(e) = self.dir.remove_if_empty() {
            errors.push(e.to_string());
        }
        if let Some(parent) = self.root.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
        errors
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let errors = self.clean();
        if !errors.is_empty() {
            eprintln!("clean-up errors: {errors:?}");
        }
    }
}

/// A listener bound inside `ns` that answers each connection with "<peer address> <what it
/// read>", so a test sees which source address arrived (masqueraded or not).
fn echo_server(ns: &Netns, addr: SocketAddr) {
    let listener = ns
        .run_in(move || TcpListener::bind(addr))
        .unwrap()
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let peer = conn.peer_addr().map(|a| a.ip().to_string());
            let mut buf = [0u8; 64];
            let n = conn.read(&mut buf).unwrap_or(0);
            let reply = format!(
                "{} {}",
                peer.unwrap_or_else(|e| e.to_string()),
                String::from_utf8_lossy(&buf[..n])
            );
            let _ = conn.write_all(reply.as_bytes());
        }
    });
}

/// Connects to `addr` from the calling thread's namespace, sends `msg`, returns the reply.
fn ask_here(addr: SocketAddr, msg: &str, bound: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, bound)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(msg.as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    Ok(reply)
}

/// [`ask_here`] from inside `ns`.
fn ask_from(ns: &Netns, addr: SocketAddr, msg: &'static str) -> std::io::Result<String> {
    ns.run_in(move || ask_here(addr, msg, Duration::from_secs(10)))
        .unwrap()
}

/// Like [`ask_from`], for a path that must be closed: fails within [`BLOCKED_WITHIN`].
fn blocked_from(ns: &Netns, addr: SocketAddr) -> std::io::Result<String> {
    ns.run_in(move || ask_here(addr, "blocked?", BLOCKED_WITHIN))
        .unwrap()
}

/// The host's own connection (this test's namespace), on a blocking thread.
async fn ask_host(addr: SocketAddr, msg: &'static str) -> std::io::Result<String> {
    tokio::task::spawn_blocking(move || ask_here(addr, msg, Duration::from_secs(10)))
        .await
        .unwrap()
}

async fn blocked_host(addr: SocketAddr) -> std::io::Result<String> {
    tokio::task::spawn_blocking(move || ask_here(addr, "blocked?", BLOCKED_WITHIN))
        .await
        .unwrap()
}

fn ip_link_names() -> String {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(out.status.success(), "ip -o link: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn nft_list(table: &str) -> String {
    let out = Command::new("nft")
        .args(["list", "table", "inet", table])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_ports_masquerade_isolation_and_internal_networks() {
    let euid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    if euid != 0 {
        let _: Option<()> = common::missing(
            "tests/firewall.rs makes bridges, namespaces and nftables tables: run as root",
        );
        return;
    }
    if Command::new("nft").arg("--version").output().is_err() {
        let _: Option<()> =
            common::missing("nft is not installed (Debian's nftables package; tests/deps.sh)");
        return;
    }
    let pid = std::process::id();
    let tag = pid % 100_000;
    // Four consecutive /24s of 10.252.0.0/16, and the same numbers in fd00:b52::/48.
    let n0 = (pid % 60) * 4;
    let [na, nb, ni, no] = [n0, n0 + 1, n0 + 2, n0 + 3];
    // Published ports below Linux's ephemeral range, from the pid, so parallel runs differ.
    let p_all = 21000 + (pid % 4000) as u16 * 2;
    let p_lo = p_all + 1;
    let root = common::scratch_path("firewall");
    let bridge = |s: &str| format!("bfw{tag}{s}");
    let veth = |s: &str| format!("bfw{tag}{s}v");
    let ns_name = |s: &str| format!("bfw{pid}-{s}");
    let mut bed = Bed {
        dir: NetnsDir::new(root.join("netns")),
        root,
        table: format!("berth_fw{pid}"),
        links: ["a", "b", "i", "o"]
            .iter()
            .flat_map(|s| [veth(s), bridge(s)])
            .collect(),
        namespaces: ["c", "d", "i", "o"].iter().map(|s| ns_name(s)).collect(),
    };
    bed.clean(); // what an earlier, killed run with this pid left
    std::fs::create_dir_all(&bed.root).unwrap();
    let host = Netlink::host().unwrap();

    // Bridges and namespaces. Every namespace, the internal one included, gets a default route
    // through the host: the firewall, not a missing route, must be what closes a path.
    let plan = [
        ("a", "c", na, true),
        ("b", "d", nb, false),
        ("i", "i", ni, false),
        ("o", "o", no, true),
    ];
    let mut ns = Vec::new();
    for (br, n, x, v6) in plan {
        let mut addrs = vec![net(&format!("10.252.{x}.1/24"))];
        let mut caddrs = vec![net(&format!("10.252.{x}.2/24"))];
        let mut gws = vec![ip(&format!("10.252.{x}.1"))];
        if v6 {
            addrs.push(net(&format!("fd00:b52:{x}::1/64")));
            caddrs.push(net(&format!("fd00:b52:{x}::2/64")));
            gws.push(ip(&format!("fd00:b52:{x}::1")));
        }
        host.ensure_bridge(&BridgeConfig {
            name: bridge(br),
            mtu: None,
            addresses: addrs,
        })
        .await
        .unwrap();
        let netns = bed.dir.create(&ns_name(n)).unwrap();
        attach(
            &host,
            &netns,
            &VethConfig {
                host_name: veth(br),
                bridge: bridge(br),
                ifname: container_ifname(0),
                mtu: None,
                mac: None,
                addresses: caddrs,
                gateways: gws,
            },
        )
        .await
        .unwrap();
        ns.push(netns);
    }
    let [c, d, i, o] = [&ns[0], &ns[1], &ns[2], &ns[3]];
    let c4 = sock(&format!("10.252.{na}.2:{PORT}"));
    let c6 = sock(&format!("[fd00:b52:{na}::2]:{PORT}"));
    let d4 = sock(&format!("10.252.{nb}.2:{PORT}"));
    let i4 = sock(&format!("10.252.{ni}.2:{PORT}"));
    let o4 = sock(&format!("10.252.{no}.2:{PORT}"));
    echo_server(c, c4);
    echo_server(c, c6);
    echo_server(d, d4);
    echo_server(i, i4);
    echo_server(o, o4);
    // The host's addresses: on o's link (what o connects to), and each bridge's gateway.
    let host_o = format!("10.252.{no}.1");
    let host_o6 = format!("fd00:b52:{no}::1");
    let gw_a = format!("10.252.{na}.1");

    // The firewall.
    let networks = vec![
        FwNetwork {
            bridge: bridge("a"),
            subnets: vec![
                net(&format!("10.252.{na}.0/24")),
                net(&format!("fd00:b52:{na}::/64")),
            ],
            internal: false,
        },
        FwNetwork {
            bridge: bridge("b"),
            subnets: vec![net(&format!("10.252.{nb}.0/24"))],
            internal: false,
        },
        FwNetwork {
            bridge: bridge("i"),
            subnets: vec![net(&format!("10.252.{ni}.0/24"))],
            internal: true,
        },
    ];
    let publish = |host_ip: Option<&str>, host_port: u16, container: SocketAddr| FwPort {
        bridge: bridge("a"),
        host_ip: host_ip.map(ip),
        host_port,
        container_ip: container.ip(),
        container_port: container.port(),
        proto: Proto::Tcp,
    };
    let ports = vec![
        publish(None, p_all, c4),
        publish(None, p_all, c6),
        publish(Some("127.0.0.1"), p_lo, c4),
    ];
    let doc = render(&bed.table, &networks, &ports).unwrap();
    assert!(!nft::table_exists(&bed.table).await.unwrap());
    // ip_forward is needed for everything routed here; on a machine that has it already, it is
    // not changed (and v6 forwarding is not asked for: it is not berth's to flip in a test).
    let enabled = sysctl::enable_ip_forward(false).unwrap();
    assert!(
        enabled.iter().all(|k| *k == sysctl::IPV4_FORWARD),
        "{enabled:?}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
            .unwrap()
            .trim(),
        "1"
    );
    assert!(sysctl::set_route_localnet(&bridge("a")).unwrap());
    assert!(
        !sysctl::set_route_localnet(&bridge("a")).unwrap(),
        "already on"
    );
    nft::apply(&doc).await.unwrap();
    // Applied twice: the same table, rebuilt whole (not rules added twice).
    let listed = nft_list(&bed.table);
    nft::apply(&doc).await.unwrap();
    assert_eq!(nft_list(&bed.table), listed);
    assert!(nft::table_exists(&bed.table).await.unwrap());

    // The published port, from the host via 127.0.0.1: DNAT'ed in output, sent out bridge a
    // (route_localnet) from a masqueraded source, the bridge's address.
    let r = ask_host(sock(&format!("127.0.0.1:{p_all}")), "lo")
        .await
        .unwrap();
    assert_eq!(r, format!("{gw_a} lo"));
    // ... via the host's address on o's link: the host's own source is kept.
    let r = ask_host(sock(&format!("{host_o}:{p_all}")), "host")
        .await
        .unwrap();
    assert_eq!(r, format!("{host_o} host"));
    // ... from "another machine": DNAT'ed in prerouting, forwarded; the client's address kept.
    let r = ask_from(o, sock(&format!("{host_o}:{p_all}")), "remote").unwrap();
    assert_eq!(r, format!("10.252.{no}.2 remote"));
    // ... over IPv6 from the host's own address (forwarding v6 is not needed for that).
    let r = ask_host(sock(&format!("[{host_o6}]:{p_all}")), "v6")
        .await
        .unwrap();
    assert_eq!(r, format!("{host_o6} v6"));
    // ... from the container itself through the host's address (hairpin): masqueraded, or the
    // container would answer itself directly and the connection would never complete.
    // With br_netfilter loaded the DNAT happens as the frame enters the bridge, which must
    // then send it back out of c's own port: hairpin mode on that port.
    host.set_hairpin(&veth("a"), true).await.unwrap();
    let r = ask_from(c, sock(&format!("{host_o}:{p_all}")), "hairpin").unwrap();
    assert_eq!(r, format!("{gw_a} hairpin"));
    // ... and from network B's container, through the host's address (published ports are for
    // everyone; only the direct path between bridges is closed).
    let r = ask_from(d, sock(&format!("{host_o}:{p_all}")), "from b").unwrap();
    // Masqueraded as it leaves by bridge a (it came from another bridge).
    assert_eq!(r, format!("{gw_a} from b"));

    // The port bound to 127.0.0.1: reached on loopback, nowhere else.
    let r = ask_host(sock(&format!("127.0.0.1:{p_lo}")), "lo only")
        .await
        .unwrap();
    assert_eq!(r, format!("{gw_a} lo only"));
    let e = blocked_from(o, sock(&format!("{host_o}:{p_lo}")));
    assert!(e.is_err(), "127.0.0.1-bound port reached from o: {e:?}");
    let e = blocked_host(sock(&format!("{host_o}:{p_lo}"))).await;
    assert!(
        e.is_err(),
        "127.0.0.1-bound port reached on {host_o}: {e:?}"
    );

    // Rendered again with one port less, the table is rebuilt whole: that port is gone, the
    // other still answers.
    let fewer = render(&bed.table, &networks, &ports[..2]).unwrap();
    nft::apply(&fewer).await.unwrap();
    let e = blocked_host(sock(&format!("127.0.0.1:{p_lo}"))).await;
    assert!(e.is_err(), "unpublished port still reached: {e:?}");
    let r = ask_host(sock(&format!("127.0.0.1:{p_all}")), "again")
        .await
        .unwrap();
    assert_eq!(r, format!("{gw_a} again"));
    nft::apply(&doc).await.unwrap();
    assert_eq!(nft_list(&bed.table), listed);

    // Egress from the container is masqueraded: o sees the host's address on its link.
    let r = ask_from(c, o4, "out").unwrap();
    assert_eq!(r, format!("{host_o} out"));

    // The internal network: nothing out, nothing in, from o or from the host's other bridges.
    let e = blocked_from(i, o4);
    assert!(e.is_err(), "internal network reached o: {e:?}");
    let e = blocked_from(i, c4);
    assert!(e.is_err(), "internal network reached c: {e:?}");
    let e = blocked_from(o, i4);
    assert!(e.is_err(), "o reached the internal network: {e:?}");

    // Isolation between berth bridges, both ways.
    let e = blocked_from(c, d4);
    assert!(e.is_err(), "c reached d across bridges: {e:?}");
    let e = blocked_from(d, c4);
    assert!(e.is_err(), "d reached c across bridges: {e:?}");

    // nft takes every kind of rule render makes (UDP, a given host address of either family,
    // an internal network with IPv6), checked without applying.
    let mut udp = publish(Some(&host_o), p_all, c4);
    udp.proto = Proto::Udp;
    let mut rich = networks.clone();
    rich[2].subnets.push(net(&format!("fd00:b52:{ni}::/64")));
    let rich_ports = [
        udp,
        publish(Some(&host_o6), p_all, c6),
        publish(Some("0.0.0.0"), p_lo, c4),
    ];
    nft::check(&render(&bed.table, &rich, &rich_ports).unwrap())
        .await
        .unwrap();
    // nft's refusal comes back as an error naming the table and nft's reason.
    let absent = format!("{}_absent", bed.table);
    let mut bad = Batch::new();
    bad.add(NfListObject::Table(Table {
        family: NfFamily::INet,
        name: absent.clone().into(),
        handle: None,
    }));
    bad.add(NfListObject::Rule(Rule {
        family: NfFamily::INet,
        table: absent.clone().into(),
        chain: "nosuch".into(),
        expr: vec![Statement::Accept(None)].into(),
        handle: None,
        index: None,
        comment: None,
    }));
    let e = nft::apply(&bad.to_nftables())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "apply nftables table inet {absent}: nft exited with"
        )) && e.contains("No such file or directory"),
        "{e}"
    );
    // One transaction: the table added before the failing rule is not there either.
    assert!(!nft::table_exists(&absent).await.unwrap());

    // Delete the table: berth's rules, and only they, closed and translated those paths.
    nft::delete_table(&bed.table).await.unwrap();
    assert!(!nft::table_exists(&bed.table).await.unwrap());
    nft::delete_table(&bed.table).await.unwrap(); // absent is fine
    assert_eq!(
        ask_from(c, d4, "open").unwrap(),
        format!("10.252.{na}.2 open")
    );
    assert_eq!(
        ask_from(i, o4, "open").unwrap(),
        format!("10.252.{ni}.2 open")
    );
    assert_eq!(
        ask_from(c, o4, "plain").unwrap(),
        format!("10.252.{na}.2 plain")
    );
    let e = blocked_from(o, sock(&format!("{host_o}:{p_all}")));
    assert!(
        e.is_err(),
        "published port still answers without the table: {e:?}"
    );

    // Render with no network: the same as deleting (and fine with the table absent).
    nft::apply(&render(&bed.table, &[], &[]).unwrap())
        .await
        .unwrap();
    assert!(!nft::table_exists(&bed.table).await.unwrap());

    // Take everything down through the crate's API and check nothing is left.
    drop(ns);
    for l in &bed.links {
        assert!(host.delete_link(l).await.unwrap(), "{l} existed");
    }
    for n in &bed.namespaces {
        bed.dir.delete(n).unwrap();
    }
    assert!(bed.dir.remove_if_empty().unwrap());
    let links = ip_link_names();
    for l in &bed.links {
        assert!(
            !links.contains(&format!(": {l}:")) && !links.contains(&format!(": {l}@")),
            "{l} left:\n{links}"
        );
    }
    let tables = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    let tables = String::from_utf8_lossy(&tables.stdout);
    assert!(!tables.contains(&bed.table), "table left:\n{tables}");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = bed.root.to_string_lossy().into_owned();
    assert!(!mountinfo.contains(&root), "mounts left under {root}");
    bed.namespaces.clear();
    bed.links.clear();
}
