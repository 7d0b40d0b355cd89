//! Bridge networks on the test bed's containerd: what `up` makes (bridge, veths, addresses,
//! routes, /etc/hosts, resolv.conf), traffic between containers, service-name DNS (replicas in
//! rotated order, aliases, links, container names, nothing across networks), isolation between
//! networks, published ports (localhost, the host's address, another machine — a namespace of
//! the test's own —, a 127.0.0.1 binding, random host ports), egress through NAT, a container
//! restarted by containerd's restart monitor keeping its network and its names, internal and
//! dual-stack networks, several networks in priority order, external networks, and that
//! `down` leaves no network record, bridge, veth, nftables table or DNS server (the shared
//! guard checks those after every test). Each test has its own containerd namespace, state
//! directories, nftables table and private subnets in 10.250.0.0/16 (10.249.0.0/16 for the
//! stand-in machine's link, fd00:b50::/32 for IPv6); traffic goes only between the test's own
//! containers, namespaces and the host.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test harness: failing loudly is the point

mod common;

use std::time::{Duration, Instant};

use common::stack::{link_exists, text, Stack};

const SUITE: &str = "network";

/// Polls `check` (every 100 ms, up to 30 s) until it returns `Some`.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// busybox 1.35's `wget -T` crashes (SIGSEGV) here, so a deadline is `timeout N wget`.

/// `sh -c script` in `service`'s container; its stdout (the command must succeed).
fn sh(s: &Stack, service: &str, script: &str) -> String {
    s.ok(&["exec", "-T", service, "sh", "-c", script])
}

/// The host ends of the stack's veths: berth names them after namespace/container and network.
fn host_veth(s: &Stack, container: &str, network: &str) -> String {
    berth::network::netlink::host_veth_name(&format!("{}/{container}", s.ns), network)
}

const WEB_AND_CLIENT: &str = r#"services:
  web:
    image: IMG
    command: ["httpd", "-f", "-p", "80", "-h", "/etc"]
    restart: always
  client:
    image: IMG
    command: ["sleep", "3600"]
    networks:
      default:
        ipv4_address: 10.250.1.50
networks:
  default:
    ipam:
      config:
        - subnet: 10.250.1.0/24
"#;

#[test]
fn containers_on_a_network_reach_each_other_and_down_leaves_nothing() {
    let Some(s) = Stack::new(SUITE, "reach") else {
        return;
    };
    s.compose(WEB_AND_CLIENT);
    s.ok(&["up", "-d"]);
    let records = s.network_records();
    assert_eq!(records.len(), 1, "{records:?}");
    let (name, bridge) = records[0].clone();
    assert_eq!(name, "network-reach_default");
    assert!(link_exists(&bridge), "bridge {bridge}");
    let bridge_addr = std::process::Command::new("ip")
        .args(["-br", "addr", "show", "dev", &bridge])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&bridge_addr.stdout).contains("10.250.1.1/24"),
        "{}",
        text(&bridge_addr)
    );
    // the bridge's MAC is its own (Docker's form of the gateway address), not its lowest
    // port's, so containers' ARP entries for the gateway stay right as others come and go
    let link = std::process::Command::new("ip")
        .args(["-br", "link", "show", "dev", &bridge])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&link.stdout).contains("02:42:0a:fa:01:01"),
        "{}",
        text(&link)
    );
    let web_veth = host_veth(&s, "network-reach-web-1", &name);
    let client_veth = host_veth(&s, "network-reach-client-1", &name);
    assert!(link_exists(&web_veth) && link_exists(&client_veth));

    // the fixed address, the lowest free one for web, Docker's MAC, the gateway route
    let client = sh(&s, "client", "ip addr show eth0; ip route");
    assert!(client.contains("inet 10.250.1.50/24"), "{client}");
    assert!(client.contains("link/ether 02:42:0a:fa:01:32"), "{client}");
    assert!(
        client.contains("default via 10.250.1.1 dev eth0"),
        "{client}"
    );
    let web = sh(&s, "web", "ip -4 addr show eth0");
    assert!(web.contains("inet 10.250.1.2/24"), "{web}");
    let hosts = sh(&s, "client", "cat /etc/hosts");
    assert!(
        hosts.contains("10.250.1.50\tnetwork-reach-client-1"),
        "{hosts}"
    );
    let resolv = sh(&s, "client", "cat /etc/resolv.conf");
    assert!(resolv.starts_with("nameserver 10.250.1.1\n"), "{resolv}");

    // traffic: client to web over the bridge, and the host to web
    let got = sh(&s, "client", "wget -q -O - http://10.250.1.2/hostname");
    assert_eq!(got.trim(), "network-reach-web-1");
    let from_host = std::net::TcpStream::connect_timeout(
        &"10.250.1.2:80".parse().unwrap(),
        Duration::from_secs(5),
    );
    assert!(from_host.is_ok(), "{from_host:?}");

    s.ok(&["down"]);
    assert!(s.network_records().is_empty());
    for l in [&bridge, &web_veth, &client_veth] {
        assert!(!link_exists(l), "{l} is left after down");
    }
}

#[test]
fn a_container_restarted_by_containerd_keeps_its_network() {
    let Some(s) = Stack::new(SUITE, "restart") else {
        return;
    };
    s.compose(&WEB_AND_CLIENT.replace("10.250.1.", "10.250.2."));
    s.ok(&["up", "-d"]);
    let pid_of = |name: &str| -> Option<String> {
        let o = s.ctr_output(&["tasks", "ls"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find(|l| l.starts_with(name) && l.contains("RUNNING"))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
    };
    let first = pid_of("network-restart-web-1").expect("web runs");
    let killed = std::process::Command::new("kill")
        .args(["-9", &first])
        .status()
        .unwrap();
    assert!(killed.success());
    // no berth process runs now: containerd's monitor starts a new task, and the hook joins
    // its new namespace to the bridge with the same address
    let second = eventually("web restarted by containerd", || {
        pid_of("network-restart-web-1").filter(|p| *p != first)
    });
    assert_ne!(first, second);
    let got = eventually("web answering again", || {
        let o = s.berth(&[
            "exec",
            "-T",
            "client",
            "timeout",
            "2",
            "wget",
            "-q",
            "-O",
            "-",
            "http://10.250.2.2/hostname",
        ]);
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    });
    assert_eq!(got.trim(), "network-restart-web-1");
}

#[test]
fn internal_dual_stack_and_several_networks_in_priority_order() {
    let Some(s) = Stack::new(SUITE, "multi") else {
        return;
    };
    s.compose(
        r#"services:
  app:
    image: IMG
    command: ["sleep", "3600"]
    networks:
      back:
      front:
        priority: 10
networks:
  front:
    enable_ipv6: true
    ipam:
      config:
        - subnet: 10.250.3.0/24
        - subnet: fd00:b50:3::/64
  back:
    internal: true
    driver_opts:
      com.docker.network.driver.mtu: "1400"
    ipam:
      config:
        - subnet: 10.250.4.0/24
          gateway: 10.250.4.254
"#,
    );
    s.ok(&["up", "-d"]);
    let out = sh(&s, "app", "ip addr; ip route; ip -6 route");
    // front has the higher priority: eth0, with both families and the default routes
    let eth0 = out.split("eth0").nth(1).unwrap_or_default();
    assert!(out.contains("inet 10.250.3.2/24"), "{out}");
    assert!(out.contains("inet6 fd00:b50:3::2/64"), "{out}");
    // the gateway is .254, so the first container gets .1 (as Docker's IPAM gives it)
    assert!(out.contains("inet 10.250.4.1/24"), "{out}");
    assert!(eth0.contains("10.250.3.2"), "eth0 is front: {out}");
    assert!(out.contains("mtu 1400"), "{out}");
    assert!(out.contains("default via 10.250.3.1 dev eth0"), "{out}");
    assert!(out.contains("default via fd00:b50:3::1 dev eth0"), "{out}");
    // the internal network gives no default route
    assert!(!out.contains("via 10.250.4.254"), "{out}");
    let resolv = sh(&s, "app", "cat /etc/resolv.conf");
    assert!(
        resolv.starts_with("nameserver 10.250.3.1\nnameserver 10.250.4.254\n"),
        "{resolv}"
    );
    // IPv6 reaches the host's end of the bridge
    sh(&s, "app", "ping -6 -c 1 -W 5 fd00:b50:3::1 >/dev/null");
    s.ok(&["down"]);
    assert!(s.network_records().is_empty());
}

#[test]
fn external_networks_must_exist_and_outlive_the_projects_that_join_them() {
    let Some(owner) = Stack::new(SUITE, "owner") else {
        return;
    };
    let Some(mut guest) = Stack::new(SUITE, "guest") else {
        return;
    };
    // the guest uses the owner's state directories: one host, one berth
    guest.lib = owner.lib.clone();
    guest.run = owner.run.clone();
    guest.nft_table = owner.nft_table.clone();
    guest.compose(
        r#"services:
  probe:
    image: IMG
    command: ["sleep", "3600"]
    networks: [shared]
networks:
  shared:
    name: berth-test-shared
    external: true
"#,
    );
    let o = guest.berth(&["up", "-d"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("network berth-test-shared declared as external, but could not be found"),
        "{}",
        text(&o)
    );
    assert!(guest.ps().is_empty(), "nothing was made");

    owner.compose(
        r#"services:
  web:
    image: IMG
    command: ["httpd", "-f", "-p", "80", "-h", "/etc"]
    networks: [shared]
networks:
  shared:
    name: berth-test-shared
    ipam:
      config:
        - subnet: 10.250.5.0/24
"#,
    );
    owner.ok(&["up", "-d"]);
    guest.ok(&["up", "-d"]);
    let got = sh(&guest, "probe", "wget -q -O - http://10.250.5.2/hostname");
    assert_eq!(got.trim(), "network-owner-web-1");
    // the owner's down leaves it while the guest is on it, with compose's warning
    let o = owner.berth(&["down", "-v"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Network berth-test-shared  Resource is still in use"),
        "{}",
        text(&o)
    );
    assert_eq!(owner.network_records().len(), 1);
    sh(&guest, "probe", "ip -4 addr show eth0 | grep -q 10.250.5.");
    // the guest's down leaves the network it did not make; the owner's next down removes it
    guest.ok(&["down", "-v"]);
    assert_eq!(owner.network_records().len(), 1);
    owner.ok(&["down", "-v"]);
    assert!(owner.network_records().is_empty());
}

#[test]
fn bad_network_settings_are_refused_before_anything_is_made() {
    let Some(s) = Stack::new(SUITE, "bad") else {
        return;
    };
    s.compose(
        r#"services:
  app:
    image: IMG
    command: ["sleep", "3600"]
networks:
  default:
    ipam:
      config:
        - subnet: 10.250.6.0/33
"#,
    );
    let o = s.berth(&["up", "-d"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(
            "network default: ipam.config[0].subnet: invalid CIDR address: 10.250.6.0/33"
        ),
        "{}",
        text(&o)
    );
    assert!(s.network_records().is_empty());
    assert!(s.ps().is_empty());
}

/// GET `http://host:port/path` from the host: every address `host` resolves to is tried, as
/// curl and browsers do (`localhost` is ::1 and 127.0.0.1); the body, or None.
fn http_get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    for addr in authority.to_socket_addrs().ok()? {
        let Ok(mut c) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
            continue;
        };
        c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(c, "GET /{path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").ok()?;
        let mut reply = String::new();
        c.read_to_string(&mut reply).ok()?;
        let (head, body) = reply.split_once("\r\n\r\n")?;
        return (head.split_whitespace().nth(1) == Some("200")).then(|| body.trim().to_owned());
    }
    None
}

/// A network namespace standing in for another machine: joined to the host by a veth pair on
/// 10.249.<x>.0/30 (host .1, machine .2), with its default route through the host. Removed
/// when dropped.
struct Machine {
    ns: String,
    host_end: String,
    host_ip: String,
    ip: String,
}

impl Machine {
    fn new(x: u8) -> Machine {
        let pid = std::process::id();
        let m = Machine {
            ns: format!("bnetm{x}-{pid}"),
            host_end: format!("bnm{x}h{}", pid % 100000),
            host_ip: format!("10.249.{x}.1"),
            ip: format!("10.249.{x}.2"),
        };
        let peer = format!("bnm{x}p{}", pid % 100000);
        let run = |args: &[&str]| {
            let o = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success(), "ip {args:?}: {}", text(&o));
        };
        run(&["netns", "add", &m.ns]);
        run(&[
            "link",
            "add",
            &m.host_end,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ]);
        run(&["link", "set", &peer, "netns", &m.ns]);
        run(&[
            "addr",
            "add",
            &format!("{}/30", m.host_ip),
            "dev",
            &m.host_end,
        ]);
        run(&["link", "set", &m.host_end, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &m.ns, "ip"];
            all.extend_from_slice(args);
            run(&all);
        };
        inside(&["addr", "add", &format!("{}/30", m.ip), "dev", &peer]);
        inside(&["link", "set", &peer, "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "via", &m.host_ip]);
        m
    }

    /// `busybox wget` of `url` from inside the machine (5 s at most): the body, or None.
    fn get(&self, url: &str) -> Option<String> {
        let o = std::process::Command::new("ip")
            .args([
                "netns", "exec", &self.ns, "timeout", "5", "busybox", "wget", "-q", "-O", "-", url,
            ])
            .output()
            .unwrap();
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.host_end])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .output();
    }
}

#[test]
fn services_find_each_other_by_name_on_their_own_network_only() {
    let Some(s) = Stack::new(SUITE, "dns") else {
        return;
    };
    s.compose(
        r#"services:
  web:
    image: IMG
    command: ["httpd", "-f", "-p", "80", "-h", "/etc"]
    scale: 3
    networks:
      front:
        aliases: [www]
  client:
    image: IMG
    command: ["sleep", "3600"]
    hostname: probe
    links: ["web:legacy"]
    networks: [front]
  other:
    image: IMG
    command: ["httpd", "-f", "-p", "80", "-h", "/etc"]
    networks: [back]
networks:
  front:
    ipam:
      config:
        - subnet: 10.250.10.0/24
  back:
    ipam:
      config:
        - subnet: 10.250.11.0/24
"#,
    );
    s.ok(&["up", "-d"]);
    let replicas = ["10.250.10.2", "10.250.10.3", "10.250.10.4"];
    let lookup = |service: &str, name: &str| -> Vec<String> {
        let o = s.berth(&["exec", "-T", service, "nslookup", name]);
        String::from_utf8_lossy(&o.stdout)
            .split("Name:")
            .skip(1)
            .filter_map(|a| a.split("Address:").nth(1))
            .map(|a| a.trim().lines().next().unwrap_or("").trim().to_owned())
            .collect()
    };
    // every replica, the order rotated from one query to the next
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let mut got = lookup("client", "web");
        firsts.insert(got[0].clone());
        got.sort();
        assert_eq!(got, replicas);
    }
    assert!(firsts.len() > 1, "the order never changed: {firsts:?}");
    // aliases, container names, hostnames, links
    let mut www = lookup("client", "www");
    www.sort();
    assert_eq!(www, replicas);
    let web2 = lookup("client", "network-dns-web-2");
    assert_eq!(web2.len(), 1);
    assert!(replicas.contains(&web2[0].as_str()));
    assert_eq!(lookup("web", "probe"), ["10.250.10.5"]);
    let mut legacy = lookup("client", "legacy");
    legacy.sort();
    assert_eq!(
        legacy, replicas,
        "the link alias resolves for the linking container"
    );
    assert!(lookup("web", "legacy").is_empty(), "and only for it");
    // wget by service name
    let got = sh(&s, "client", "wget -q -O - http://web/hostname");
    assert!(got.starts_with("network-dns-web-"), "{got}");
    // the other network's names are not answered here, nor its addresses reached
    assert!(lookup("client", "other").is_empty());
    assert!(lookup("other", "web").is_empty());
    let o = s.berth(&[
        "exec",
        "-T",
        "client",
        "timeout",
        "3",
        "wget",
        "-q",
        "-O",
        "-",
        "http://10.250.11.2/hostname",
    ]);
    assert!(!o.status.success(), "front reached back: {}", text(&o));
    // a stopped container's names go, and come back with it
    s.ok(&["stop", "client"]);
    assert!(lookup("web", "probe").is_empty());
    s.ok(&["start", "client"]);
    let dns_state = || {
        let log = std::fs::read_to_string(s.run.join("dns/server.log")).unwrap_or_default();
        let records = std::process::Command::new("find")
            .arg(s.run.join("dns"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let client = std::fs::read_to_string(
            s.run
                .join("dns/network-dns_front/containers/network-dns-client-1.json"),
        )
        .unwrap_or_default();
        let raw = s.berth(&["exec", "-T", "web", "nslookup", "probe"]);
        format!(
            "server log:\n{log}\nfiles:\n{records}\nclient record:\n{client}\nnslookup:\n{}",
            text(&raw)
        )
    };
    // busybox's nslookup gives up after one timed-out try; a retry tells that from a
    // record that never came back
    let back = (0..5)
        .map(|_| lookup("web", "probe"))
        .find(|r| !r.is_empty());
    assert_eq!(
        back,
        Some(vec!["10.250.10.5".to_string()]),
        "{}",
        dns_state()
    );
}

#[test]
fn published_ports_reach_the_container_from_localhost_the_host_and_another_machine() {
    let Some(s) = Stack::new(SUITE, "ports") else {
        return;
    };
    let machine = Machine::new(20);
    s.compose(
        r#"services:
  web:
    image: IMG
    command: ["sh", "-c", "httpd -p 8080 -h /etc; exec httpd -f -p 80 -h /etc"]
    ports:
      - "18480:80"
      - "127.0.0.1:18481:80"
      - "8080"
networks:
  default:
    ipam:
      config:
        - subnet: 10.250.20.0/24
"#,
    );
    s.ok(&["up", "-d"]);
    let get = |url: &str| http_get(url);
    let web = "network-ports-web-1";
    assert_eq!(get("http://localhost:18480/hostname").as_deref(), Some(web));
    assert_eq!(get("http://127.0.0.1:18481/hostname").as_deref(), Some(web));
    let host = &machine.host_ip;
    assert_eq!(
        get(&format!("http://{host}:18480/hostname")).as_deref(),
        Some(web),
        "via the host's own address"
    );
    assert_eq!(
        machine
            .get(&format!("http://{host}:18480/hostname"))
            .as_deref(),
        Some(web),
        "from another machine"
    );
    assert_eq!(
        machine.get(&format!("http://{host}:18481/hostname")),
        None,
        "a 127.0.0.1 binding is not reachable from outside"
    );
    // the random host port: `port` and `ps` say which, and it answers
    assert_eq!(s.ok(&["port", "web", "80"]).trim(), "0.0.0.0:18480");
    let port = s.ok(&["port", "web", "8080"]);
    let port = port.trim();
    assert!(port.starts_with("0.0.0.0:"), "{port}");
    let random = port.rsplit(':').next().unwrap();
    assert_eq!(
        get(&format!("http://127.0.0.1:{random}/hostname")).as_deref(),
        Some(web)
    );
    let ps = s.ok(&["ps"]);
    assert!(ps.contains("0.0.0.0:18480->80/tcp"), "{ps}");
    assert!(ps.contains("127.0.0.1:18481->80/tcp"), "{ps}");

    // a host port another program holds is refused before anything starts
    let holder = std::net::TcpListener::bind("0.0.0.0:18482").unwrap();
    std::fs::write(
        s.dir.join("compose.yaml"),
        std::fs::read_to_string(s.dir.join("compose.yaml"))
            .unwrap()
            .replace("\"8080\"\n", "\"8080\"\n      - \"18482:81\"\n"),
    )
    .unwrap();
    let o = s.berth(&["up", "-d"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("18482"), "{}", text(&o));
    assert!(text(&o).contains("already in use"), "{}", text(&o));
    drop(holder);
    // and the running container was left as it was
    assert_eq!(get("http://localhost:18480/hostname").as_deref(), Some(web));
}

#[test]
fn containers_reach_the_outside_through_nat_and_internal_networks_do_not() {
    let Some(s) = Stack::new(SUITE, "egress") else {
        return;
    };
    let machine = Machine::new(30);
    // a server on the other machine that answers with the address it saw
    let www = s.dir.join("www");
    std::fs::create_dir_all(www.join("cgi-bin")).unwrap();
    let cgi = www.join("cgi-bin/who");
    std::fs::write(
        &cgi,
        "#!/bin/sh\necho Content-Type: text/plain\necho\necho $REMOTE_ADDR\n",
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&cgi).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&cgi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut server = std::process::Command::new("ip")
        .args(["netns", "exec", &machine.ns, "busybox", "httpd", "-f", "-p"])
        .arg(format!("{}:8000", machine.ip))
        .arg("-h")
        .arg(&www)
        .spawn()
        .unwrap();
    s.compose(
        r#"services:
  out:
    image: IMG
    command: ["sleep", "3600"]
  locked:
    image: IMG
    command: ["sleep", "3600"]
    networks: [inside]
networks:
  default:
    ipam:
      config:
        - subnet: 10.250.30.0/24
  inside:
    internal: true
    ipam:
      config:
        - subnet: 10.250.31.0/24
"#,
    );
    s.ok(&["up", "-d"]);
    let url = format!("http://{}:8000/cgi-bin/who", machine.ip);
    let seen = eventually("the machine's server", || {
        let o = s.berth(&[
            "exec", "-T", "out", "timeout", "3", "wget", "-q", "-O", "-", &url,
        ]);
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    });
    assert_eq!(seen, machine.host_ip, "masqueraded to the host's address");
    let o = s.berth(&[
        "exec", "-T", "locked", "timeout", "3", "wget", "-q", "-O", "-", &url,
    ]);
    assert!(
        !o.status.success(),
        "the internal network reached out: {}",
        text(&o)
    );
    let _ = server.kill();
    let _ = server.wait();
}
