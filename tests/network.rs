//! Bridge networks on the test bed's containerd: what `up` makes (bridge, veths, addresses,
//! routes, /etc/hosts, resolv.conf), traffic between containers, a container restarted by
//! containerd's restart monitor keeping its network, internal and dual-stack networks,
//! several networks in priority order, external networks, and that `down` leaves no network
//! record, bridge or veth. Each test has its own containerd namespace, state directories and a
//! private subnet in 10.250.0.0/16 (fd00:b50::/32 for IPv6); traffic goes only between the
//! test's own containers and the host.

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
            "wget",
            "-q",
            "-T",
            "2",
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
    assert!(out.contains("inet 10.250.4.2/24"), "{out}");
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
    let o = owner.berth(&["down"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Network berth-test-shared  Resource is still in use"),
        "{}",
        text(&o)
    );
    assert_eq!(owner.network_records().len(), 1);
    sh(&guest, "probe", "ip -4 addr show eth0 | grep -q 10.250.5.");
    // the guest's down leaves the network it did not make; the owner's next down removes it
    guest.ok(&["down"]);
    assert_eq!(owner.network_records().len(), 1);
    owner.ok(&["down"]);
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
