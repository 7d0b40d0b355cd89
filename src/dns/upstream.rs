//! The host's resolvers, where names that are not a network's go when the asking container has
//! no `dns:` of its own. Read from /etc/resolv.conf; when that only names systemd-resolved's
//! stub (127.0.0.53), from the list of real servers systemd-resolved keeps. The server runs in
//! the host's namespace, so loopback resolvers are fine to use from it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

/// systemd-resolved's stub listener.
pub const RESOLVED_STUB: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53));
/// Where systemd-resolved lists the servers it forwards to.
pub const RESOLVED_UPSTREAMS: &str = "/run/systemd/resolve/resolv.conf";
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The `nameserver` addresses of a resolv.conf text, in order. Scoped IPv6 addresses
/// (fe80::1%eth0) and anything else that is not a plain address are skipped.
pub fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                .and_then(|w| w.parse().ok())
        })
        .collect()
}

/// Chooses the host's upstreams (port 53) from the text of /etc/resolv.conf and, when there is
/// one, of systemd-resolved's list. The stub is replaced by resolved's servers when it is all
/// /etc/resolv.conf names and resolved lists some; otherwise /etc/resolv.conf is taken as it is.
pub fn choose(etc: &str, resolved: Option<&str>) -> Vec<SocketAddr> {
    let mut servers = nameservers(etc);
    if !servers.is_empty() && servers.iter().all(|s| *s == RESOLVED_STUB) {
        if let Some(real) = resolved.map(nameservers).filter(|r| !r.is_empty()) {
            servers = real;
        }
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    for s in servers {
        let s = SocketAddr::new(s, 53);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Reads the files [`choose`] needs from the host. A missing /etc/resolv.conf gives no
/// upstreams (unknown names then get SERVFAIL).
pub fn host_upstreams(etc: &Path, resolved: &Path) -> Vec<SocketAddr> {
    let etc = std::fs::read_to_string(etc).unwrap_or_default();
    let resolved = std::fs::read_to_string(resolved).ok();
    choose(&etc, resolved.as_deref())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn plain_resolv_conf() {
        let etc = "# generated\nsearch example.com\nnameserver 192.0.2.1\n\
                   nameserver  2001:db8::53 # v6\n;nameserver 192.0.2.9\n\
                   nameserver fe80::1%eth0\nnameserver 192.0.2.1\noptions ndots:2\n";
        assert_eq!(
            choose(etc, Some("nameserver 198.51.100.1\n")),
            [sa("192.0.2.1:53"), sa("[2001:db8::53]:53")]
        );
    }

    #[test]
    fn systemd_resolved_stub_is_replaced_by_its_servers() {
        let etc = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n";
        let resolved = "# This is /run/systemd/resolve/resolv.conf\n\
                        nameserver 198.51.100.1\nnameserver 198.51.100.2\n";
        assert_eq!(
            choose(etc, Some(resolved)),
            [sa("198.51.100.1:53"), sa("198.51.100.2:53")]
        );
        // resolved's list missing or empty: the stub itself (reachable from the host)
        assert_eq!(choose(etc, None), [sa("127.0.0.53:53")]);
        assert_eq!(choose(etc, Some("# none\n")), [sa("127.0.0.53:53")]);
    }

    #[test]
    fn other_loopback_resolvers_are_kept() {
        // dnsmasq or unbound on the host: reachable from the server, which runs there
        assert_eq!(
            choose(
                "nameserver 127.0.0.1\nnameserver 127.0.0.53\n",
                Some("nameserver 198.51.100.1")
            ),
            [sa("127.0.0.1:53"), sa("127.0.0.53:53")]
        );
        assert!(choose("", None).is_empty());
    }
}
