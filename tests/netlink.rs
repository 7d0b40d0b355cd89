//! berth's netlink and network-namespace layer (src/network/) on real kernel objects, as root:
//! two bridges on private subnets (10.253.<x>.0/24 and fd00:b37:<x>::/64, with <x> from the
//! process id so parallel runs coexist), four named namespaces in a scratch directory, a veth
//! from each into its bridge. It proves TCP flows between namespaces on one bridge (v4 and v6),
//! that a namespace on the other bridge cannot reach them even with an address in their subnet,
//! and that deleting everything leaves no link, namespace file or mount. A guard removes what
//! the test made even when an assertion fails. Traffic stays between the namespaces the test
//! made.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use berth::network::netlink::{
    attach, container_ifname, host_veth_name, BridgeConfig, Netlink, NetlinkError, VethConfig,
};
use berth::network::netns::{Netns, NetnsDir, NetnsError};
use ipnet::IpNet;

const PORT: u16 = 7000;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// What the test made, so that [`Drop`] can remove it whatever happened.
struct Bed {
    root: PathBuf,
    dir: NetnsDir,
    bridges: Vec<String>,
    veths: Vec<String>,
    namespaces: Vec<String>,
}

impl Bed {
    /// Removes every veth, bridge and namespace of the test, and the namespace directory.
    /// Runs its own runtime on its own thread, so it works from Drop inside a tokio test too.
    fn clean(&self) -> Vec<String> {
        let links: Vec<String> = self.veths.iter().chain(&self.bridges).cloned().collect();
        let errors = std::thread::spawn(move || {
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
        let mut errors = errors;
        for n in &self.namespaces {
            if let Err(e) = self.dir.delete(n) {
                errors.push(e.to_string());
            }
        }
        if let Err(e) = self.dir.remove_if_empty() {
            errors.push(e.to_string());
        }
        // The scratch directory common::scratch_path made for this test, with `root` in it.
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

/// A listener inside `ns` (bound from a thread that entered it; the socket stays there) that
/// answers each connection with "echo:" and what it read.
fn echo_server(ns: &Netns, addr: SocketAddr) {
    let listener = ns
        .run_in(move || TcpListener::bind(addr))
        .unwrap()
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 64];
            let n = conn.read(&mut buf).unwrap_or(0);
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = conn.write_all(&reply);
        }
    });
}

/// Connects from inside `ns` to `addr`, sends `msg` and returns the reply.
fn ask(ns: &Netns, addr: SocketAddr, msg: &'static str) -> std::io::Result<String> {
    ns.run_in(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(msg.as_bytes())?;
        s.shutdown(std::net::Shutdown::Write)?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply)
    })
    .unwrap()
}

fn ip_link_names() -> String {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    assert!(out.status.success(), "ip -o link: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridges_veths_and_namespaces() {
    // /proc/self belongs to the process's effective user.
    let euid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    if euid != 0 {
        let _: Option<()> =
            common::missing("tests/netlink.rs makes bridges and namespaces: run as root");
        return;
    }
    let pid = std::process::id();
    let x = 16 + pid % 112; // 16..127; the second bridge uses x + 128
    let y = x + 128;
    let root = common::scratch_path("netlink");
    let tag = pid % 100_000;
    let br1 = format!("berth-t{tag}");
    let br2 = format!("berth-u{tag}");
    let names: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| format!("t{pid}-{n}"))
        .collect();
    let veth = |i: usize, br: &str| host_veth_name(&names[i], br);
    let mut bed = Bed {
        dir: NetnsDir::new(root.join("netns")),
        root,
        bridges: vec![br1.clone(), br2.clone()],
        veths: vec![
            veth(0, &br1),
            veth(1, &br1),
            veth(2, &br2),
            veth(3, &br2),
            veth(4, &br1),
        ],
        namespaces: names.clone(),
    };
    // Something an earlier, killed run with this pid left.
    bed.clean();
    std::fs::create_dir_all(&bed.root).unwrap();

    let host = Netlink::host().unwrap();

    // Bridges: made, then found again by a second ensure (idempotent).
    let b1cfg = BridgeConfig {
        name: br1.clone(),
        mtu: Some(1400),
        addresses: vec![
            net(&format!("10.253.{x}.1/24")),
            net(&format!("fd00:b37:{x}::1/64")),
        ],
    };
    let b1 = host.ensure_bridge(&b1cfg).await.unwrap();
    assert_eq!(b1.kind.as_deref(), Some("bridge"));
    assert!(b1.up);
    assert_eq!(b1.mtu, Some(1400));
    let again = host.ensure_bridge(&b1cfg).await.unwrap();
    assert_eq!(
        again.index, b1.index,
        "a second ensure must reuse the bridge"
    );
    let b2 = host
        .ensure_bridge(&BridgeConfig {
            name: br2.clone(),
            mtu: None,
            addresses: vec![net(&format!("10.253.{y}.1/24"))],
        })
        .await
        .unwrap();
    let addrs = host.addresses().await.unwrap();
    for a in &b1cfg.addresses {
        let n = addrs
            .iter()
            .filter(|got| got.link_index == b1.index && got.addr == *a)
            .count();
        assert_eq!(n, 1, "{a} once on {br1}: {addrs:?}");
    }

    // Namespaces: made, refused twice, opened again.
    let mut ns = Vec::new();
    for n in &names {
        ns.push(bed.dir.create(n).unwrap());
    }
    let e = bed.dir.create(&names[0]).unwrap_err();
    assert!(e.to_string().contains("File exists"), "{e}");
    let reopened = bed.dir.open(&names[0]).unwrap();
    assert_eq!(reopened.path(), bed.dir.path().join(&names[0]));
    drop(reopened);
    std::fs::write(bed.root.join("plain"), b"").unwrap();
    assert!(matches!(
        Netns::open_path(&bed.root.join("plain")),
        Err(NetnsError::NotANamespace { .. })
    ));

    // A and B on bridge 1 (v4 and v6); C and D on bridge 2, with addresses in bridge 1's subnet:
    // if the bridges leaked into each other, C would reach A.
    let plan: [(usize, &str, Vec<IpNet>, Vec<IpAddr>); 4] = [
        (
            0,
            &br1,
            vec![
                net(&format!("10.253.{x}.2/24")),
                net(&format!("fd00:b37:{x}::2/64")),
            ],
            vec![
                ip(&format!("10.253.{x}.1")),
                ip(&format!("fd00:b37:{x}::1")),
            ],
        ),
        (
            1,
            &br1,
            vec![
                net(&format!("10.253.{x}.3/24")),
                net(&format!("fd00:b37:{x}::3/64")),
            ],
            vec![
                ip(&format!("10.253.{x}.1")),
                ip(&format!("fd00:b37:{x}::1")),
            ],
        ),
        (2, &br2, vec![net(&format!("10.253.{x}.4/24"))], vec![]),
        (3, &br2, vec![net(&format!("10.253.{x}.5/24"))], vec![]),
    ];
    let mac = [0x02, 0x42, 0x0a, 0xfd, x as u8, 0x02];
    for (i, br, addresses, gateways) in &plan {
        let cfg = VethConfig {
            host_name: veth(*i, br),
            bridge: br.to_string(),
            ifname: container_ifname(0),
            mtu: Some(1400),
            mac: (*i == 0).then_some(mac),
            addresses: addresses.clone(),
            gateways: gateways.clone(),
        };
        let link = attach(&host, &ns[*i], &cfg).await.unwrap();
        let bridge = if *br == br1 { &b1 } else { &b2 };
        assert_eq!(
            link.controller,
            Some(bridge.index),
            "{} on {br}",
            cfg.host_name
        );
        assert!(link.up);
        assert_eq!(link.kind.as_deref(), Some("veth"));
    }

    // A step that fails inside the namespace (a gateway off every subnet of E) leaves no veth.
    let bad = VethConfig {
        host_name: veth(4, &br1),
        bridge: br1.clone(),
        ifname: container_ifname(0),
        mtu: None,
        mac: None,
        addresses: vec![net(&format!("10.253.{x}.6/24"))],
        gateways: vec![ip("10.252.0.1")],
    };
    let e = attach(&host, &ns[4], &bad).await.unwrap_err().to_string();
    assert!(
        e.starts_with("add default route on eth0 in network namespace")
            && e.ends_with("via 10.252.0.1: Network is unreachable"),
        "{e}"
    );
    assert!(
        host.link(&bad.host_name).await.unwrap().is_none(),
        "{} left",
        bad.host_name
    );
    // A bridge whose name a link of another kind has is refused, naming both.
    let e = host
        .ensure_bridge(&BridgeConfig {
            name: veth(0, &br1),
            mtu: None,
            addresses: vec![],
        })
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "create bridge {}: a link of kind veth already has this name",
            veth(0, &br1)
        )
    );

    // Inside A: lo and eth0 up, eth0 with the MTU, MAC and addresses; nothing else.
    let in_a = Netlink::in_netns(&ns[0]).await.unwrap();
    let links = in_a.links().await.unwrap();
    let mut names_in_a: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
    names_in_a.sort();
    assert_eq!(names_in_a, ["eth0", "lo"], "{links:?}");
    let eth0 = links.iter().find(|l| l.name == "eth0").unwrap();
    assert!(eth0.up && links.iter().all(|l| l.up), "{links:?}");
    assert_eq!(eth0.mtu, Some(1400));
    assert_eq!(eth0.mac.as_deref(), Some(&mac[..]));
    let a_addrs = in_a.addresses().await.unwrap();
    for a in &plan[0].2 {
        assert!(
            a_addrs
                .iter()
                .any(|got| got.link_index == eth0.index && got.addr == *a),
            "{a} on eth0 in A: {a_addrs:?}"
        );
    }
    // The peer never showed up on the host under a temporary or final name.
    assert!(host
        .link("eth0")
        .await
        .unwrap()
        .is_none_or(|l| l.kind.as_deref() != Some("veth")));
    // Errors name what failed.
    let e: NetlinkError = in_a.set_up("nosuch0").await.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("set up nosuch0 in network namespace"),
        "{e}"
    );
    drop(in_a);

    // A <-> B over IPv4 and IPv6, both ways.
    let a4: SocketAddr = format!("10.253.{x}.2:{PORT}").parse().unwrap();
    let b4: SocketAddr = format!("10.253.{x}.3:{PORT}").parse().unwrap();
    let a6: SocketAddr = format!("[fd00:b37:{x}::2]:{PORT}").parse().unwrap();
    echo_server(&ns[0], a4);
    echo_server(&ns[0], a6);
    echo_server(&ns[1], b4);
    assert_eq!(ask(&ns[1], a4, "from b").unwrap(), "echo:from b");
    assert_eq!(ask(&ns[1], a6, "from b v6").unwrap(), "echo:from b v6");
    assert_eq!(ask(&ns[0], b4, "from a").unwrap(), "echo:from a");

    // C reaches D on its own bridge, and not A, though A's address is in C's subnet.
    let d4: SocketAddr = format!("10.253.{x}.5:{PORT}").parse().unwrap();
    echo_server(&ns[3], d4);
    assert_eq!(ask(&ns[2], d4, "from c").unwrap(), "echo:from c");
    let leak = ask(&ns[2], a4, "from c");
    assert!(leak.is_err(), "C on {br2} reached A on {br1}: {leak:?}");
    // And the host's own namespace is untouched: A's addresses are not in it.
    let host_addrs = host.addresses().await.unwrap();
    assert!(!host_addrs.iter().any(|a| a.addr == plan[0].2[0]));

    // Delete everything through the API and check nothing is left.
    drop(ns);
    for v in &bed.veths[..4] {
        assert!(host.delete_link(v).await.unwrap(), "{v} existed");
    }
    assert!(host.delete_link(&br1).await.unwrap());
    assert!(host.delete_link(&br2).await.unwrap());
    assert!(!host.delete_link(&br1).await.unwrap(), "absent is fine");
    for n in &names {
        bed.dir.delete(n).unwrap();
        bed.dir.delete(n).unwrap(); // absent is fine
    }
    assert!(bed.dir.remove_if_empty().unwrap());

    let links = ip_link_names();
    for l in bed.bridges.iter().chain(&bed.veths) {
        assert!(
            !links.contains(&format!(": {l}:")) && !links.contains(&format!(": {l}@")),
            "{l} left:\n{links}"
        );
    }
    let names_left = host.links().await.unwrap();
    assert!(!names_left
        .iter()
        .any(|l| bed.bridges.contains(&l.name) || bed.veths.contains(&l.name)));
    assert!(
        !bed.dir.path().exists(),
        "{} left",
        bed.dir.path().display()
    );
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = bed.root.to_string_lossy().into_owned();
    assert!(
        !mountinfo.contains(&root),
        "mounts left under {root}:\n{mountinfo}"
    );
    bed.namespaces.clear();
}
