//! berth's service-name DNS (src/dns/) as a real process on real kernel objects, as root: two
//! bridges on private subnets (10.251.<x>.0/24 + fd00:b51:<x>::/64, and an internal one on
//! 10.251.<x+128>.0/24, <x> from the process id; the internal bridge gets its address only
//! after the server started), three named namespaces as containers, records written with the
//! dns API, the server started with `dns::ensure` (the `berth` binary execs itself), and queries
//! sent from inside the namespaces: over UDP and TCP, IPv4 and IPv6, with a DNS client of the
//! test's own, and once with busybox nslookup. It checks replicas rotated, aliases, case, links
//! seen only by the linking container, a container on two networks, isolation between networks
//! (REFUSED), forwarding to an upstream the test runs on loopback (standing in for the
//! containers' `dns:` servers, so no query leaves the machine) and none from the internal
//! network, records added and removed while it runs, its memory, concurrent `ensure` calls, and
//! that it exits by itself (or on SIGTERM, for good) leaving only its log. A guard stops the
//! server and removes every link, namespace and file even when an assertion fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth::dns::{self, ContainerRecord, NetworkRecord};
use berth::network::netlink::{
    attach, container_ifname, host_veth_name, BridgeConfig, Netlink, VethConfig,
};
use berth::network::netns::{Netns, NetnsDir};
use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use ipnet::IpNet;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// What the test made, so that [`Drop`] can remove it whatever happened.
struct Bed {
    root: PathBuf,
    run_dir: PathBuf,
    dir: NetnsDir,
    links: Vec<String>,
    namespaces: Vec<String>,
}

impl Bed {
    fn clean(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(pid) = dns::server_pid(&self.run_dir) {
            let _ = dns::stop(&self.run_dir);
            wait_gone(pid, &self.run_dir);
        }
        let links = self.links.clone();
        errors.extend(
            std::thread::spawn(move || {
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
            .unwrap(),
        );
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

/// Waits (up to a minute: a liveness bound, not a timing assertion) until `pid` is no longer
/// the DNS server of `run_dir`; true when it went.
fn wait_gone(pid: i32, run_dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while dns::is_server(pid, run_dir) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Sends one query from inside `ns` to `server` and returns the reply.
fn ask(ns: &Netns, server: SocketAddr, name: &str, t: RecordType, tcp: bool) -> Message {
    let owned = name.to_string();
    ns.run_in(move || -> std::io::Result<Message> {
        let name = owned;
        let mut m = Message::query();
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(&name).unwrap(), t));
        let bytes = m.to_vec().unwrap();
        let wait = Some(Duration::from_secs(10));
        let reply = if tcp {
            let mut s = TcpStream::connect_timeout(&server, Duration::from_secs(10))?;
            s.set_read_timeout(wait)?;
            let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&bytes);
            s.write_all(&out)?;
            let mut len = [0u8; 2];
            s.read_exact(&mut len)?;
            let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut buf)?;
            buf
        } else {
            let any = if server.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let s = UdpSocket::bind(any)?;
            s.set_read_timeout(wait)?;
            s.send_to(&bytes, server)?;
            let mut buf = vec![0u8; 4096];
            let (n, from) = s.recv_from(&mut buf)?;
            assert_eq!(from, server);
            buf.truncate(n);
            buf
        };
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.metadata.id, m.metadata.id);
        assert_eq!(reply.metadata.message_type, MessageType::Response);
        Ok(reply)
    })
    .unwrap()
    .unwrap_or_else(|e| panic!("query {name} at {server}: {e}"))
}

fn addrs(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// The upstream's answer: `outside.example` is 192.0.2.77, every other name NXDOMAIN.
fn upstream_answer(query: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let mut r = Message::response(q.metadata.id, q.metadata.op_code);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.add_queries(q.queries.iter().cloned());
    let name = q.queries.first()?.name().clone();
    if name.to_ascii().eq_ignore_ascii_case("outside.example.") {
        r.add_answer(Record::from_rdata(
            name,
            60,
            RData::A(A::new(192, 0, 2, 77)),
        ));
    } else {
        r.metadata.response_code = ResponseCode::NXDomain;
    }
    r.to_vec().ok()
}

/// A resolver on 127.0.0.1, UDP and TCP on one port, answering with [`upstream_answer`] and
/// counting the queries it gets. Stops when the flag is set.
fn upstream(stop: Arc<AtomicBool>, count: Arc<AtomicUsize>) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let addr = s.local_addr().unwrap();
    let tcp = std::net::TcpListener::bind(addr).unwrap();
    tcp.set_nonblocking(true).unwrap();
    let (stop2, count2) = (stop.clone(), count.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = s.recv_from(&mut buf) else {
                continue;
            };
            count.fetch_add(1, Ordering::Relaxed);
            if let Some(r) = upstream_answer(&buf[..n]) {
                let _ = s.send_to(&r, from);
            }
        }
    });
    std::thread::spawn(move || {
        while !stop2.load(Ordering::Relaxed) {
            let Ok((mut c, _)) = tcp.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut len = [0u8; 2];
            if c.read_exact(&mut len).is_err() {
                continue;
            }
            let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
            if c.read_exact(&mut q).is_err() {
                continue;
            }
            count2.fetch_add(1, Ordering::Relaxed);
            if let Some(r) = upstream_answer(&q) {
                let mut out = (r.len() as u16).to_be_bytes().to_vec();
                out.extend_from_slice(&r);
                let _ = c.write_all(&out);
            }
        }
    });
    addr
}

fn container(name: &str, addresses: &[IpAddr], names: &[&str], up: SocketAddr) -> ContainerRecord {
    ContainerRecord {
        name: name.into(),
        addresses: addresses.to_vec(),
        names: names.iter().map(|n| n.to_string()).collect(),
        links: BTreeMap::new(),
        upstreams: vec![up],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_discovery() {
    let euid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    if euid != 0 {
        let _: Option<()> =
            common::missing("tests/dns.rs makes bridges and namespaces: run as root");
        return;
    }
    let exe = Path::new(env!("CARGO_BIN_EXE_berth"));
    let pid = std::process::id();
    let x = pid % 128; // 0..127; the internal network uses x + 128
    let y = x + 128;
    let tag = pid % 10_000_000;
    let root = common::scratch_path("dns");
    let br1 = format!("bdns{tag}a");
    let br2 = format!("bdns{tag}b");
    let names: Vec<String> = ["1", "2", "3"]
        .iter()
        .map(|n| format!("bdns{pid}-{n}"))
        .collect();
    let veths: Vec<String> = vec![
        host_veth_name(&names[0], &br1),
        host_veth_name(&names[1], &br1),
        host_veth_name(&names[2], &br2),
    ];
    let mut bed = Bed {
        run_dir: root.join("run"),
        dir: NetnsDir::new(root.join("netns")),
        root: root.clone(),
        links: veths
            .iter()
            .cloned()
            .chain([br1.clone(), br2.clone()])
            .collect(),
        namespaces: names.clone(),
    };
    std::fs::create_dir_all(&bed.run_dir).unwrap();
    let run_dir = bed.run_dir.clone();

    // Front: a dual-stack bridge. Back: an internal one that gets its address only after the
    // server started (it binds with IP_FREEBIND).
    let host = Netlink::host().unwrap();
    let gw1 = ip(&format!("10.251.{x}.1"));
    let gw1v6 = ip(&format!("fd00:b51:{x}::1"));
    let gw2 = ip(&format!("10.251.{y}.1"));
    host.ensure_bridge(&BridgeConfig {
        name: br1.clone(),
        mtu: None,
        addresses: vec![net(&format!("{gw1}/24")), net(&format!("{gw1v6}/64"))],
    })
    .await
    .unwrap();
    host.ensure_bridge(&BridgeConfig {
        name: br2.clone(),
        mtu: None,
        addresses: vec![],
    })
    .await
    .unwrap();
    let web1 = ip(&format!("10.251.{x}.2"));
    let web1v6 = ip(&format!("fd00:b51:{x}::2"));
    let web2 = ip(&format!("10.251.{x}.3"));
    let web3 = ip(&format!("10.251.{x}.4"));
    let db = ip(&format!("10.251.{x}.9"));
    let back1 = ip(&format!("10.251.{y}.2"));
    let mut ns = Vec::new();
    for n in &names {
        ns.push(bed.dir.create(n).unwrap());
    }
    let plan: [(usize, &str, Vec<IpNet>, Vec<IpAddr>); 3] = [
        (
            0,
            &br1,
            vec![net(&format!("{web1}/24")), net(&format!("{web1v6}/64"))],
            vec![gw1, gw1v6],
        ),
        (1, &br1, vec![net(&format!("{web2}/24"))], vec![gw1]),
        (2, &br2, vec![net(&format!("{back1}/24"))], vec![]),
    ];
    for (i, br, addresses, gateways) in plan {
        let cfg = VethConfig {
            host_name: veths[i].clone(),
            bridge: br.to_string(),
            ifname: container_ifname(0),
            mtu: None,
            mac: None,
            addresses,
            gateways,
        };
        attach(&host, &ns[i], &cfg).await.unwrap();
    }
    // The back container routes everything through its gateway (the host), so it can try the
    // front network's server too.
    ns[2]
        .run_in(move || {
            Command::new("ip")
                .args(["route", "add", "default", "via", &gw2.to_string()])
                .status()
        })
        .unwrap()
        .ok();

    let stop = Arc::new(AtomicBool::new(false));
    let forwarded = Arc::new(AtomicUsize::new(0));
    let up = upstream(stop.clone(), forwarded.clone());

    let front = format!("bdns{pid}_front");
    let back = format!("bdns{pid}_back");
    dns::write_network(
        &run_dir,
        &NetworkRecord {
            name: front.clone(),
            gateways: vec![gw1, gw1v6],
            subnets: vec![
                net(&format!("10.251.{x}.0/24")),
                net(&format!("fd00:b51:{x}::/64")),
            ],
            internal: false,
        },
    )
    .unwrap();
    dns::write_network(
        &run_dir,
        &NetworkRecord {
            name: back.clone(),
            gateways: vec![gw2],
            subnets: vec![net(&format!("10.251.{y}.0/24"))],
            internal: true,
        },
    )
    .unwrap();
    let mut c1 = container(
        "app-web-1",
        &[web1, web1v6],
        &["web", "app-web-1", "www"],
        up,
    );
    c1.links.insert("database".into(), "db".into());
    let c2 = container("app-web-2", &[web2], &["web", "app-web-2"], up);
    let cdb = container("app-db-1", &[db], &["db", "app-db-1"], up);
    let c3 = container("app-back-1", &[back1], &["back", "app-back-1"], up);
    for c in [&c1, &c2, &cdb] {
        dns::write_container(&run_dir, &front, c).unwrap();
    }
    dns::write_container(&run_dir, &back, &c3).unwrap();
    let web1_back = ip(&format!("10.251.{y}.3"));
    let c1_back = container("app-web-1", &[web1_back], &["web", "app-web-1"], up);
    dns::write_container(&run_dir, &back, &c1_back).unwrap();

    assert_eq!(dns::server_pid(&run_dir), None);
    dns::ensure(&run_dir, exe).unwrap();
    let server = dns::server_pid(&run_dir).expect("a server runs after ensure");
    host.add_address(&br2, net(&format!("{gw2}/24")))
        .await
        .unwrap();

    let s1: SocketAddr = (gw1, 53).into();
    let s1v6: SocketAddr = (gw1v6, 53).into();
    let s2: SocketAddr = (gw2, 53).into();
    let a = RecordType::A;

    // A service name gives every replica, in an order that rotates from query to query.
    let first = addrs(&ask(&ns[0], s1, "web", a, false));
    let second = addrs(&ask(&ns[1], s1, "web", a, false));
    let third = addrs(&ask(&ns[0], s1, "web", a, false));
    let mut sorted = first.clone();
    sorted.sort();
    assert_eq!(sorted, [web1, web2], "{first:?}");
    assert_eq!(second, [first[1], first[0]]);
    assert_eq!(third, first);
    // AAAA over IPv6, from the container's IPv6 address
    let m = ask(&ns[0], s1v6, "web", RecordType::AAAA, false);
    assert_eq!(addrs(&m), [web1v6]);
    // container names, aliases, any case, with or without the trailing dot; over TCP too
    assert_eq!(addrs(&ask(&ns[1], s1, "www", a, false)), [web1]);
    assert_eq!(addrs(&ask(&ns[1], s1, "APP-Web-1.", a, false)), [web1]);
    assert_eq!(addrs(&ask(&ns[0], s1, "app-web-2", a, true)), [web2]);
    // a name with no address of the family: NOERROR, no answer, nothing forwarded
    let before = forwarded.load(Ordering::Relaxed);
    let m = ask(&ns[1], s1, "db", RecordType::AAAA, false);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    // PTR of a container address
    let m = ask(
        &ns[1],
        s1,
        &format!("2.{x}.251.10.in-addr.arpa"),
        RecordType::PTR,
        false,
    );
    assert!(
        m.answers
            .iter()
            .any(|r| matches!(&r.data, RData::PTR(p) if p.0.to_ascii() == "app-web-1.")),
        "{m:?}"
    );
    assert_eq!(forwarded.load(Ordering::Relaxed), before);

    // The link alias exists only for the linking container; others have it forwarded (and the
    // upstream knows no such name).
    assert_eq!(addrs(&ask(&ns[0], s1, "database", a, false)), [db]);
    let m = ask(&ns[1], s1, "database", a, false);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(forwarded.load(Ordering::Relaxed), before + 1);

    // Unknown names go to the container's upstream.
    let m = ask(&ns[1], s1, "outside.example", a, false);
    assert_eq!(addrs(&m), [ip("192.0.2.77")]);
    let m = ask(&ns[1], s1, "outside.example", a, true);
    assert_eq!(addrs(&m), [ip("192.0.2.77")], "forwarded over TCP");
    assert_eq!(
        forwarded.load(Ordering::Relaxed),
        before + 3,
        "the TCP one went over TCP"
    );

    // A name of another network is not answered from this one...
    let m = ask(&ns[1], s1, "back", a, false);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.answers.is_empty());
    // ...except to a container that is on both: web-1 also has a record on the back network
    // (an address there that this test does not configure), so it gets back's names through
    // the front nameserver.
    assert_eq!(addrs(&ask(&ns[0], s1, "back", a, false)), [back1]);
    // The internal network answers its own names and forwards nothing.
    assert_eq!(addrs(&ask(&ns[2], s2, "back", a, false)), [back1]);
    let n = forwarded.load(Ordering::Relaxed);
    for name in ["outside.example", "www"] {
        let m = ask(&ns[2], s2, name, a, false);
        assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{name}");
        assert!(m.answers.is_empty());
    }
    assert_eq!(forwarded.load(Ordering::Relaxed), n);
    // A client of the back network is refused at the front network's server.
    let m = ask(&ns[2], s1, "web", a, false);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(m.answers.is_empty());

    // busybox's nslookup, as a container's tools would ask.
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns[1].path().display()))
        .args(["busybox", "nslookup", "-type=a", "web", &gw1.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains(&web1.to_string()) && text.contains(&web2.to_string()),
        "{text}"
    );

    // Records change while it runs: a third replica appears, the second goes.
    let c4 = container("app-web-3", &[web3], &["web"], up);
    dns::write_container(&run_dir, &front, &c4).unwrap();
    dns::ensure(&run_dir, exe).unwrap();
    let mut now = addrs(&ask(&ns[0], s1, "web", a, false));
    now.sort();
    assert_eq!(now, [web1, web2, web3]);
    assert!(dns::remove_container(&run_dir, &front, "app-web-2").unwrap());
    assert!(dns::notify(&run_dir).unwrap());
    let mut now = addrs(&ask(&ns[0], s1, "web", a, false));
    now.sort();
    assert_eq!(now, [web1, web3]);
    // app-web-2 is no longer a container of the network: it is refused nothing (its address
    // is in the subnet) but its name is forwarded now
    let m = ask(&ns[1], s1, "app-web-2", a, false);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        dns::server_pid(&run_dir),
        Some(server),
        "same process throughout"
    );

    // Small: its own memory well under 10 MB. (VmRSS also counts the pages of the executable
    // it runs, shared with every berth process and reclaimable: most of that is the size of
    // this unoptimized test build, so it is reported, not asserted.)
    let mem = dns::server::memory(server).unwrap();
    eprintln!(
        "DNS server memory: VmRSS {} KiB = RssAnon {} KiB + RssFile {} KiB (+ shmem)",
        mem.rss, mem.anon, mem.file
    );
    assert!(mem.anon < 10 * 1024, "{mem:?}");

    // Without records it exits by itself, and takes its pid file with it.
    assert!(dns::remove_network(&run_dir, &front).unwrap());
    assert!(dns::notify(&run_dir).unwrap());
    assert_eq!(
        addrs(&ask(&ns[2], s2, "back", a, false)),
        [back1],
        "still serves the rest"
    );
    assert!(dns::remove_network(&run_dir, &back).unwrap());
    assert!(dns::notify(&run_dir).unwrap());
    assert!(wait_gone(server, &run_dir), "the server did not exit");
    let dns_dir = run_dir.join("dns");
    assert!(!dns_dir.join("server.pid").exists());
    assert_eq!(dns::server_pid(&run_dir), None);
    assert!(!dns::notify(&run_dir).unwrap());
    let log = std::fs::read_to_string(dns_dir.join("server.log")).unwrap_or_default();
    assert!(log.contains("no network left; exiting"), "{log}");
    // Stopped (SIGTERM) with records still there, it stops for good: no successor.
    dns::write_network(
        &run_dir,
        &NetworkRecord {
            name: back.clone(),
            gateways: vec![gw2],
            subnets: vec![net(&format!("10.251.{y}.0/24"))],
            internal: true,
        },
    )
    .unwrap();
    // Four berths starting containers at once: one server, and every caller served.
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let run_dir = run_dir.clone();
            std::thread::spawn(move || dns::ensure(&run_dir, exe))
        })
        .collect();
    for c in callers {
        c.join().unwrap().unwrap();
    }
    let second = dns::server_pid(&run_dir).unwrap();
    let servers = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| dns::is_server(p, &run_dir.canonicalize().unwrap()))
        .count();
    assert_eq!(servers, 1);
    assert_ne!(second, server);
    assert!(dns::stop(&run_dir).unwrap());
    assert!(wait_gone(second, &run_dir));
    assert_eq!(dns::server_pid(&run_dir), None);
    assert!(dns::remove_network(&run_dir, &back).unwrap());
    let left: Vec<String> = std::fs::read_dir(&dns_dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(left, ["server.log"], "only the log stays");
    stop.store(true, Ordering::Relaxed);

    // Everything else the test made goes, and nothing is left.
    drop(ns);
    let errors = bed.clean();
    assert!(errors.is_empty(), "{errors:?}");
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&out.stdout);
    for l in &bed.links {
        assert!(
            !links.contains(&format!(": {l}:")) && !links.contains(&format!(": {l}@")),
            "{l} left:\n{links}"
        );
    }
    assert!(!bed.dir.path().exists());
    bed.namespaces.clear();
    bed.links.clear();
}
